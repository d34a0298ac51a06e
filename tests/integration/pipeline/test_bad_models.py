"""A broken model version never stops scoring: it is quarantined live, or skipped at start, and nothing is lost.

Real Kafka, Cassandra and onnxruntime. The broken version is a real ONNX graph that passes every probe at
registration and load but fails inside onnxruntime on amounts beyond its bucket table, as live events have.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from cassandra.cluster import Session
from confluent_kafka import Consumer

from schemas.features import FeatureSpec
from schemas.synthetic import TransactionGenerator
from scorecast.cassandra import connect
from scorecast.producer import EventProducer
from scorecast.settings import Settings
from scorers.artifacts import file_path
from scorers.errors import ModelVerificationError
from scorers.registry import Registry
from scorers.runtime import PROBE_ROWS, OnnxModel
from scorers.worker import ScorerWorker, WorkerConfig, scorer_worker
from streams.store import SignalStore
from tests.integration.pipeline.conftest import RunWorker, SpawnWorker
from tests.integration.streams.conftest import read_topic
from tests.unit.scorers import onnx_builders as build

STREAM = "transactions"


def produce(settings: Settings, count: int, seed: int, amount: float | None = None) -> set[str]:
    """``count`` synthetic events (every amount set to ``amount`` when given); returns their event ids."""
    generator = TransactionGenerator(seed=seed, start_ms=int(time.time() * 1000) - 60_000)
    ids: set[str] = set()
    with EventProducer(settings, STREAM) as producer:
        for generated in generator.generate(count).records:
            record = generated if amount is None else {**generated, "amount": amount}
            producer.send(record)
            ids.add(str(record["event_id"]))
    return ids


@pytest.fixture
def session(pipeline_settings: Settings) -> Iterator[Session]:
    s = connect(pipeline_settings, pipeline_settings.keyspace)
    yield s
    s.cluster.shutdown()


def versions_by_event(session: Session) -> dict[str, set[int]]:
    found: dict[str, set[int]] = {}
    for row in session.execute("SELECT event_id, version FROM predictions"):
        found.setdefault(row.event_id, set()).add(row.version)
    return found


def wait_until(condition: object, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.05)
    return False


def register_under_the_old_probe(registry: Registry, artifact: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    """Registers as the registry did before every batch size was probed (one 64-row probe), as a stored
    version from then would be."""
    load = OnnxModel.load

    def one_probe(artifact: bytes, spec: FeatureSpec, **options: Any) -> OnnxModel:
        return load(artifact, spec, **{**options, "probe_sizes": (PROBE_ROWS,)})

    with monkeypatch.context() as patch:
        patch.setattr(OnnxModel, "load", one_probe)
        registry.register("fraud", artifact, stream="transactions")


def test_bad_versions_promoted_live_are_quarantined_and_every_event_scored_by_the_previous(
    pipeline_settings: Settings, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = pipeline_settings.model_copy(update={"model_poll_interval_s": 0.1})
    with Registry.open(settings) as registry:
        registry.register("fraud", build.logistic(np.full((16, 1), 0.001, dtype=np.float32)), stream="transactions")
        with pytest.raises(ModelVerificationError, match="probe run failed on a batch of 1 row"):
            registry.register("fraud", build.batch_size_trap(64), stream="transactions")
        register_under_the_old_probe(registry, build.batch_size_trap(64), monkeypatch)  # v2: right at 64 rows only
        registry.register(
            "fraud", build.amount_bucket_trap(limit=10_000.0), stream="transactions"
        )  # v3: passes every probe
        registry.promote("fraud", 1)
        before = produce(settings, 300, seed=1)

        stop = threading.Event()
        outcome: dict[str, object] = {}

        def run(worker: ScorerWorker) -> None:
            try:
                outcome["stats"] = worker.run(stop)
            except BaseException as error:  # the defect: the worker died on the broken version
                outcome["error"] = error

        with scorer_worker(settings, WorkerConfig(stream=STREAM, model="fraud", batch_max=500)) as worker:
            thread = threading.Thread(target=run, args=(worker,))
            thread.start()
            try:
                assert wait_until(lambda: len(versions_by_event(session)) == len(before))
                # v2 is refused at load (its probe fails at 1 row) and the alias taken back while v1 serves.
                registry.promote("fraud", 2, reason="live promotion of a fixed-batch export")
                assert wait_until(lambda: registry.aliases("fraud")["champion"] == (1,))
                during = produce(settings, 300, seed=2)
                # v3 loads, then fails on the first batch holding an amount beyond its bucket table.
                registry.promote("fraud", 3, reason="live promotion of a model with a bucket bug")
                assert wait_until(lambda: worker.serving() == (3,))
                after = produce(settings, 1_500, seed=3, amount=25_000.0)
                everything = before | during | after
                wait_until(lambda: len(versions_by_event(session)) == len(everything) or "error" in outcome)
            finally:
                stop.set()
                thread.join(timeout=60)
        assert "error" not in outcome, f"worker stopped: {outcome.get('error')!r}"
        assert worker.serving() == (1,)
        assert worker.stats.quarantined == [2, 3]

        # Nothing lost, nothing scored by a broken version: every event has exactly v1's prediction.
        scored = versions_by_event(session)
        assert set(scored) == everything
        assert {v for versions in scored.values() for v in versions} == {1}
        assert worker.stats.dead_lettered == 0

        # The registry says what happened, and the champion is back at v1 for every reader.
        quarantine = [c for c in registry.history("fraud") if c.action == "quarantine"]
        assert [(c.alias, c.version, c.previous) for c in quarantine] == [("champion", 1, 3), ("champion", 1, 2)]
        assert "Gather" in quarantine[0].reason
        assert "probe run failed on a batch of 1 row" in quarantine[1].reason
        assert registry.aliases("fraud")["champion"] == (1,)

    alerts = SignalStore(session).latest("fraud", kind="ALERT")
    assert sorted((a.metric, a.version, a.evidence["at"], a.evidence["fallback_version"]) for a in alerts) == [
        ("model:quarantined", 2, "load", "1"),
        ("model:quarantined", 3, "run", "1"),
    ]
    on_topic = [s for s in read_topic(settings, "signals", idle_s=1.0) if s["kind"] == "ALERT"]
    assert sorted((s["metric"], s["version"]) for s in on_topic) == [("model:quarantined", 2), ("model:quarantined", 3)]


def dead_letter_reasons(settings: Settings, idle_s: float = 2.0) -> list[str]:
    consumer = Consumer({**settings.kafka_config(), "group.id": f"dlq-{uuid.uuid4()}", "auto.offset.reset": "earliest"})
    consumer.subscribe([settings.topic(STREAM, "dead-letters")])
    reasons: list[str] = []
    last = time.monotonic()
    try:
        while time.monotonic() - last < idle_s:
            for message in consumer.consume(500, 0.5):
                if message.error() is None:
                    reason = dict(message.headers() or []).get("scorecast.dlq.reason")
                    reasons.append(reason.decode() if isinstance(reason, bytes) else str(reason))
                    last = time.monotonic()
    finally:
        consumer.close()
    return reasons


def test_a_record_that_breaks_every_version_is_dead_lettered_and_the_rest_scored(
    pipeline_settings: Settings, session: Session, run_worker: RunWorker
) -> None:
    settings = pipeline_settings
    with Registry.open(settings) as registry:
        registry.register(
            "fraud", build.amount_bucket_trap(limit=10_000.0), stream="transactions"
        )  # the only version: no fallback
        registry.promote("fraud", 1)
        good = produce(settings, 500, seed=4)
        bad = produce(settings, 3, seed=5, amount=25_000.0)
        good |= produce(settings, 500, seed=6)
        stats = run_worker(idle_exit_s=3.0)  # before: the worker died on the first batch holding a bad record
        assert (stats.scored, stats.dead_lettered, stats.quarantined) == (1_000, 3, [])
        assert registry.aliases("fraud")["champion"] == (1,)
        assert not [c for c in registry.history("fraud") if c.action == "quarantine"]
    scored = versions_by_event(session)
    assert set(scored) == good
    assert not set(scored) & bad
    assert dead_letter_reasons(settings) == ["non-finite-score"] * 3


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of the Prometheus series ``name`` (any suffix) carrying ``labels``, or None."""
    for line in text.splitlines():
        if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_worker_starting_on_a_tampered_champion_serves_the_previous_version(
    pipeline_settings: Settings, session: Session, spawn_worker: SpawnWorker
) -> None:
    settings = pipeline_settings
    with Registry.open(settings) as registry:
        for scale in (0.001, 0.002, 0.003):
            registry.register("fraud", build.logistic(np.full((16, 1), scale, dtype=np.float32)), stream="transactions")
        for version in (1, 2, 3):
            registry.promote("fraud", version)
        for version in (3, 2):  # the champion and the one before it both fail verification now
            tamper(file_path(registry.get("fraud", version).artifact_uri))
        events = produce(settings, 400, seed=3)

        port = free_port()
        worker = spawn_worker("--metrics-port", str(port))
        text = ""
        try:
            deadline = time.monotonic() + 60
            while (metric(text, "scorecast_events_scored") or 0) < len(events) and time.monotonic() < deadline:
                time.sleep(0.3)
                with contextlib.suppress(httpx.TransportError):
                    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
        finally:
            worker.send_signal(signal.SIGTERM)
            output, _ = worker.communicate(timeout=30)
        assert worker.returncode == 0, output
        # Said loudly: the log, the metrics (served version, the version taken out) and an ALERT signal.
        assert "fraud@3 (champion) cannot serve: refused: checksum mismatch" in output
        assert "serving fraud@1, the newest earlier champion that verifies" in output
        assert metric(text, "scorecast_serving_version", alias="champion") == 1
        assert metric(text, "scorecast_versions_quarantined", version="3", at="start") == 1
        alerts = SignalStore(session).latest("fraud", kind="ALERT")
        assert [(a.metric, a.version, a.evidence["at"], a.evidence["fallback_version"]) for a in alerts] == [
            ("model:quarantined", 3, "start", "1")
        ]
        quarantine = [c for c in registry.history("fraud") if c.action == "quarantine"]
        assert [(c.alias, c.version, c.previous) for c in quarantine] == [("champion", 1, 3)]
        assert registry.aliases("fraud")["champion"] == (1,)  # lookups now read the version being served

        scored = versions_by_event(session)
        assert set(scored) == events
        assert {v for versions in scored.values() for v in versions} == {1}

        # No version at all can serve: the worker exits non-zero with one line naming each refusal.
        tamper(file_path(registry.get("fraud", 1).artifact_uri))
    process = spawn_worker("--idle-exit", "1")
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 1
    last = output.strip().splitlines()[-1]
    assert "no champion could be loaded (fraud@1 refused: checksum mismatch" in last
    assert "Traceback" not in output


def tamper(path: Path) -> None:
    """Bytes changed after registration: the registered checksum no longer matches."""
    path.write_bytes(path.read_bytes()[:-8] + b"tampered")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
