"""What lookups serve: each entity its variant during a rollout, and a blue-green switch or its rollback
(`scorecast models switch|rollback`) within the lookup API's alias TTL."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from cassandra.cluster import Session
from starlette.testclient import TestClient

from scorecast.settings import Settings
from scorers.artifacts import open_store
from scorers.registry import ModelVersion, Registry
from scorers.rollouts.lifecycle import abort, start
from scorers.rollouts.spec import RolloutSpec
from scorers.rollouts.split import TrafficSplit
from scorers.rollouts.store import RolloutStore
from tests.integration.lookup_api.conftest import Rows, serve
from tests.integration.pipeline.conftest import worker_env

TTL_MS = 500  # the lookup API's default alias TTL
ENTITIES = [f"card-{i:04d}" for i in range(200)]


def _write_predictions(session: Session, versions: list[int]) -> None:
    rows = Rows(session)
    for version in versions:
        for entity in ENTITIES:
            rows.prediction("fraud", version, entity, version / 10)


def _served(client: TestClient, entity: str) -> tuple[int, str]:
    response = client.get(f"/v1/predictions/fraud/{entity}")
    assert response.status_code == 200, response.text
    body = response.json()
    return body["version"], body["variant"]


def test_a_rollout_serves_each_entity_its_variant(
    pipeline_settings: Settings, registered: list[ModelVersion], session: Session
) -> None:
    champion, candidate = registered[0].version, registered[1].version
    _write_predictions(session, [champion, candidate])
    registry, store = Registry(session, open_store(pipeline_settings)), RolloutStore(session)
    spec = RolloutSpec(stages=(25.0, 100.0))
    start(registry, store, "fraud", candidate, spec, "", int(time.time() * 1000))
    split = TrafficSplit(0.25)
    with serve(pipeline_settings, auth_enabled=False, alias_ttl_ms=TTL_MS) as client:
        served = {e: _served(client, e) for e in ENTITIES}
        for entity, (version, variant) in served.items():
            expected = (candidate, "candidate") if split.serves_candidate(entity) else (champion, "champion")
            assert (version, variant) == expected
        assert 20 < sum(v == "candidate" for _, v in served.values()) < 80
        batch = client.post("/v1/predictions/fraud:batch", json={"entity_ids": ENTITIES[:50]}).json()
        assert [(r["version"], r["variant"]) for r in batch["results"]] == [served[e] for e in ENTITIES[:50]]
        # Asked for by version, nothing is split.
        pinned = client.get(f"/v1/predictions/fraud/{ENTITIES[0]}", params={"version": champion}).json()
        assert pinned["version"] == champion
        abort(registry, store, "fraud", "test over", int(time.time() * 1000))
        since = time.monotonic()
        while {_served(client, e) for e in ENTITIES} != {(champion, "champion")}:
            assert time.monotonic() - since < 10, "the abort was not followed"
            time.sleep(0.05)


def _scorecast(settings: Settings, *args: str) -> str:
    scorecast = Path(sys.executable).with_name("scorecast")
    done = subprocess.run(
        [str(scorecast), *args], env=worker_env(settings), capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _follow(client: TestClient, version: int, since: float) -> float:
    while _served(client, ENTITIES[0])[0] != version:
        assert time.monotonic() - since < 5, "the flip was not followed"
        time.sleep(0.005)
    return time.monotonic() - since


def test_blue_green_switch_and_rollback_are_served_within_the_alias_ttl(
    pipeline_settings: Settings, registered: list[ModelVersion], session: Session
) -> None:
    blue, green = registered[0].version, registered[1].version
    _write_predictions(session, [blue, green])
    with serve(pipeline_settings, auth_enabled=False, alias_ttl_ms=TTL_MS) as client:
        assert _served(client, ENTITIES[0]) == (blue, "champion")
        assert "switch: champion" in _scorecast(pipeline_settings, "models", "switch", "fraud", str(green))
        switched = _follow(client, green, time.monotonic())
        assert "rollback: champion" in _scorecast(pipeline_settings, "models", "rollback", "fraud")
        rolled_back = _follow(client, blue, time.monotonic())
    # Followed (``_follow`` bounds the wait); how fast is a measurement, not an assertion: by design one alias
    # TTL plus one catalog read, reported here and by benchmarks/bench_lookup.py.
    print(f"blue-green followed in {switched * 1000:.0f} ms, rollback in {rolled_back * 1000:.0f} ms")
    history = Registry(session, open_store(pipeline_settings)).history("fraud")
    assert [c.action for c in history if c.alias == "champion"][:2] == ["rollback", "switch"]
