"""A challenger that dies mid-run changes nothing of the champion's output; restarted, it catches up."""

from __future__ import annotations

import time

import numpy as np

from schemas.batch import EventBatchDecoder
from schemas.codec import AvroCodec
from schemas.registry import open_store
from scorecast.app.produce_cli import produce_synthetic
from scorecast.settings import Settings
from scorers.hot_reload import ModelLoader
from scorers.registry import ModelVersion, Registry
from scorers.scoring import ScoringCore
from scorers.worker import WorkerConfig
from shadow.champion import GroupProgress
from tests.integration.shadow.conftest import Spawn, finish, join_all, query, read_topic

N = 30_000


def reference_scores(settings: Settings, version: int) -> dict[str, float]:
    """Every event scored offline by the champion version through the scoring core: the champion-alone output."""
    topic = settings.topic("transactions", "events")
    with Registry.open(settings) as registry:
        model = ModelLoader(registry, settings, "transactions").load("fraud", version)
    core = ScoringCore(EventBatchDecoder(open_store(settings), "transactions", topic))
    scored = core.score([m.value() for m in read_topic(settings, topic)], [model], "champion")
    rows = scored.results[0].rows
    return dict(zip(rows.event_ids, rows.scores.astype(np.float64).tolist(), strict=True))


def test_a_challenger_killed_mid_run_leaves_the_champions_output_unchanged(
    pipeline_settings: Settings, registered: list[ModelVersion], spawn: Spawn
) -> None:
    settings = pipeline_settings
    produce_synthetic(settings, "transactions", count=N, seed=13, labels=False)
    challenger_group = WorkerConfig(stream="transactions", model="fraud", alias="challenger", source="shadow").group
    progress = GroupProgress(settings, challenger_group, settings.topic("transactions", "shadow"))
    challengers = spawn("challengers")
    tee = spawn("shadow-tee", "--idle-exit", "10")
    champion = spawn("score", "--idle-exit", "10")
    deadline = time.monotonic() + 240
    while (done := sum(max(o, 0) for o in progress.committed([0, 1]).values())) == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    challengers.kill()  # SIGKILL, mid-run: no clean leave, no last commit
    challengers.wait()
    assert 0 < done < N

    assert f"scored {N} events" in " ".join(finish(champion).split())
    finish(tee)
    champion_version = next(v.version for v in registered if v.metrics["kind"] == "lightgbm")
    expected = reference_scores(settings, champion_version)
    assert len(expected) == N
    stored = {
        str(event_id): score
        for version, event_id, score, variant in query(
            settings, "SELECT version, event_id, score, variant FROM predictions"
        )
        if version == champion_version and variant == "champion"
    }
    assert stored == expected  # same rows, same scores, bit for bit
    codec = AvroCodec(open_store(settings), settings.topic("transactions", "predictions"), "predictions")
    published = [
        codec.decode(m.value() or b"") for m in read_topic(settings, settings.topic("transactions", "predictions"))
    ]
    assert len(published) == N
    assert {r["event_id"]: r["score"] for r in published} == expected

    # Restarted, the challenger resumes from its last commit and the shadow results become complete.
    finish(spawn("challengers", "--idle-exit", "10"))
    stats = join_all(settings)
    assert (stats.unmatched, stats.champion_missing) == (0, 0)
    counts = query(settings, "SELECT challenger_version FROM shadow_results")
    assert sorted(np.unique([c[0] for c in counts], return_counts=True)[1].tolist()) == [N, N]
