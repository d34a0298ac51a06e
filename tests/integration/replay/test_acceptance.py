"""Acceptance: a replay of a time range with the champion reproduces the live scores row by row, and moves no
live consumer group's committed offsets. 100k events by default, to keep CI time sane; the 500k run is the same
test by hand: ``REPLAY_ACCEPTANCE_EVENTS=500000 pytest tests/integration/replay/test_acceptance.py``."""

from __future__ import annotations

import os

import numpy as np
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from schemas.synthetic import TransactionGenerator
from scorecast.cassandra import connect
from scorecast.settings import Settings
from scorers.registry import ModelVersion
from scorers.worker import WorkerConfig
from tests.integration.pipeline.conftest import RunWorker
from tests.integration.replay.conftest import START_MS, STREAM, Produce, Replay, champion, read_results

N = int(os.environ.get("REPLAY_ACCEPTANCE_EVENTS", "100000"))


def committed(settings: Settings, group: str) -> dict[int, int]:
    topic = settings.topic(STREAM, "events")
    consumer = Consumer({**settings.kafka_config(), "group.id": group, "enable.auto.commit": False})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        found = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
    finally:
        consumer.close()
    return {tp.partition: tp.offset for tp in found}


def live_scores(settings: Settings) -> dict[str, float]:
    session = connect(settings, settings.keyspace)
    try:
        rows = session.execute("SELECT event_id, score FROM predictions", timeout=300)
        return {r.event_id: r.score for r in rows}
    finally:
        session.cluster.shutdown()


def test_replaying_a_time_range_with_the_champion_reproduces_the_live_scores(
    pipeline_settings: Settings, registered: list[ModelVersion], produce: Produce, run_worker: RunWorker, replay: Replay
) -> None:
    settings = pipeline_settings
    produce(5_000, seed=1)  # before the range
    produced = produce(N, seed=3)
    produce(5_000, seed=5)  # after it
    stats = run_worker(idle_exit_s=5.0)
    assert stats.scored == N + 10_000
    group = settings.group_id(WorkerConfig(stream=STREAM, model="fraud").group)
    offsets_before = committed(settings, group)
    assert sum(offsets_before.values()) == N + 10_000

    outcome = replay(*produced.window, (champion(registered),), workers=2)

    assert committed(settings, group) == offsets_before  # the live group's offsets did not move
    groups = AdminClient(settings.kafka_config()).list_consumer_groups().result(timeout=30)
    replay_groups = settings.group_id("scorecast.replay")
    assert not [g.group_id for g in groups.valid if g.group_id.startswith(replay_groups)]  # none joined or committed

    results = read_results(outcome.results)
    assert results.num_rows == N  # exactly the range: neither batch around it
    expected = TransactionGenerator(seed=3, start_ms=START_MS).generate(N)
    ids = results.column("event_id").to_pylist()
    assert sorted(ids) == sorted(r["event_id"] for r in expected.records)

    live = live_scores(settings)
    replayed = results.column("score").to_numpy().astype(np.float64)
    stored = np.array([live[i] for i in ids])
    assert np.array_equal(replayed, stored), f"{int((replayed != stored).sum())} scores differ"

    truth = dict(zip((r["event_id"] for r in expected.records), expected.labels.tolist(), strict=True))
    labels = results.column("label").to_numpy(zero_copy_only=False)
    known = ~np.isnan(labels.astype(np.float64))
    assert known.mean() > 0.999  # the 7-day horizon holds nearly every synthetic label
    assert [int(x) for x in labels[known]] == [truth[i] for i, k in zip(ids, known, strict=True) if k]
    assert outcome.findings.overall[("fraud", int(champion(registered).split("@")[1]))].auc is not None
