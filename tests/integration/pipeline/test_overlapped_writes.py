"""A worker writes a batch while it scores the next (scorecast.batch_consumer, ``overlap``), against the real Kafka
and Cassandra: offsets are committed only once their batch's writes are acknowledged and never past them, a
failing write holds back its batch's commit only, and a stop in the middle of writes loses nothing.

The prediction sink is the real one wrapped to count, fail or pause chosen writes (a fault injected at the
worker's side of the client, not a fake of Cassandra)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from cassandra.cluster import Session
from confluent_kafka import Consumer, TopicPartition

import scorers.worker
from scorecast.app.produce_cli import produce_synthetic
from scorecast.errors import RetryableError
from scorecast.settings import Settings
from scorers.prediction_sink import PredictionRows, PredictionSink, RejectedRow, prediction_sink
from scorers.registry import ModelVersion
from scorers.worker import WorkerConfig
from tests.integration.pipeline.conftest import RunWorker
from tests.integration.pipeline.test_delivery_guarantees import committed, stored_event_ids

STREAM = "transactions"
N = 3_000
BATCH = 500

Fault = Callable[[int, PredictionRows], None]  # called before write number k (from 1); raises to fail it


class FaultySink:
    """The configured sink; before each write, checks what the group has committed so far."""

    def __init__(self, inner: PredictionSink, settings: Settings, fault: Fault) -> None:
        self.inner = inner
        self.fault = fault
        self.writes = 0
        self.acknowledged = 0  # rows whose write returned
        self.thread = ""  # that of the last write
        self.committed_seen: list[tuple[int, int]] = []  # (committed events, acknowledged rows) at each write
        self._group = settings.group_id(WorkerConfig(stream=STREAM, model="fraud").group)
        self._topic = settings.topic(STREAM, "events")
        self._probe = Consumer({**settings.kafka_config(), "group.id": self._group})

    def write(self, rows: PredictionRows) -> list[RejectedRow]:
        self.writes += 1
        self.thread = threading.current_thread().name
        partitions = self._probe.list_topics(self._topic, timeout=10).topics[self._topic].partitions
        offsets = self._probe.committed([TopicPartition(self._topic, p) for p in partitions], timeout=10)
        self.committed_seen.append((sum(max(tp.offset, 0) for tp in offsets), self.acknowledged))
        self.fault(self.writes, rows)
        refused = self.inner.write(rows)
        self.acknowledged += len(rows)
        return refused

    def close(self) -> None:
        self._probe.close()
        self.inner.close()


@pytest.fixture(params=["cassandra-driver", "acsylla"])
def pipeline_settings(pipeline_settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """Each test on both prediction sinks: acsylla's runs its event loop on the delivery thread."""
    return pipeline_settings.model_copy(update={"prediction_write_client": request.param})


@pytest.fixture
def faulty(monkeypatch: pytest.MonkeyPatch, pipeline_settings: Settings) -> Callable[[Fault], list[FaultySink]]:
    made: list[FaultySink] = []

    def install(fault: Fault) -> list[FaultySink]:
        def wrapped(settings: Settings, session: Session) -> PredictionSink:
            sink = FaultySink(prediction_sink(settings, session), pipeline_settings, fault)
            made.append(sink)
            return sink

        monkeypatch.setattr(scorers.worker, "prediction_sink", wrapped)
        return made

    return install


def test_a_write_failing_after_a_written_batch_commits_only_what_was_written_and_a_restart_loses_nothing(
    pipeline_settings: Settings,
    registered: list[ModelVersion],
    run_worker: RunWorker,
    faulty: Callable[[Fault], list[FaultySink]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert produce_synthetic(pipeline_settings, STREAM, count=N, seed=41, labels=False).sent == N
    stop = threading.Event()
    failed = 0

    def second_write_fails(k: int, rows: PredictionRows) -> None:
        nonlocal failed
        if k >= 2:  # Cassandra "goes away" after the first batch, until the worker is stopped
            failed += 1
            if failed == 3:
                stop.set()
            raise RetryableError("Cassandra unreachable (injected)")

    sinks = faulty(second_write_fails)
    with pytest.raises(RetryableError):
        run_worker(stop=stop, batch_max=BATCH)
    group = pipeline_settings.group_id(WorkerConfig(stream=STREAM, model="fraud").group)
    first = sinks[0].acknowledged
    assert 0 < first <= BATCH
    assert committed(pipeline_settings, group) == first  # the written batch, not the one scored behind it
    assert len(stored_event_ids(pipeline_settings)) == first

    monkeypatch.undo()  # the restart writes through the real sink only
    run_worker(batch_max=BATCH)
    ids = stored_event_ids(pipeline_settings)
    assert len(ids) == N
    assert len(set(ids)) == N
    assert committed(pipeline_settings, group) == N


def test_commits_never_run_ahead_of_acknowledged_writes(
    pipeline_settings: Settings,
    registered: list[ModelVersion],
    run_worker: RunWorker,
    faulty: Callable[[Fault], list[FaultySink]],
) -> None:
    assert produce_synthetic(pipeline_settings, STREAM, count=N, seed=42, labels=False).sent == N

    def slow_every_other(k: int, rows: PredictionRows) -> None:
        if k % 2:
            threading.Event().wait(0.1)  # the next batch is scored, and the previous committed, meanwhile

    sinks = faulty(slow_every_other)
    stats = run_worker(batch_max=BATCH)
    assert stats.scored == N
    assert type(sinks[0].inner).__name__ == {"acsylla": "AcsyllaPredictionWriter"}.get(
        pipeline_settings.prediction_write_client, "PredictionWriter"
    )
    assert sinks[0].thread.startswith("deliver")  # written on the delivery thread
    seen = sinks[0].committed_seen
    assert len(seen) >= N // BATCH
    assert all(done <= acknowledged for done, acknowledged in seen)  # no offset before its rows were written
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)  # and in order
    assert any(done > 0 for done, _ in seen)
    group = pipeline_settings.group_id(WorkerConfig(stream=STREAM, model="fraud").group)
    assert committed(pipeline_settings, group) == N


def test_a_stop_during_writes_loses_nothing(
    pipeline_settings: Settings,
    registered: list[ModelVersion],
    run_worker: RunWorker,
    faulty: Callable[[Fault], list[FaultySink]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert produce_synthetic(pipeline_settings, STREAM, count=N, seed=43, labels=False).sent == N
    stop = threading.Event()

    def stop_during_the_second_write(k: int, rows: PredictionRows) -> None:
        if k == 2:
            stop.set()  # SIGTERM while this batch is in flight and the next one is being scored
            threading.Event().wait(0.3)

    sinks = faulty(stop_during_the_second_write)
    run_worker(stop=stop, batch_max=BATCH)
    group = pipeline_settings.group_id(WorkerConfig(stream=STREAM, model="fraud").group)
    written = sinks[0].acknowledged
    assert committed(pipeline_settings, group) == written  # what was written is committed, nothing more
    assert len(stored_event_ids(pipeline_settings)) == written

    monkeypatch.undo()
    run_worker(batch_max=BATCH)
    ids = stored_event_ids(pipeline_settings)
    assert len(set(ids)) == N
