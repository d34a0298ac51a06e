"""Events in Kafka are scored by the champion and land in Cassandra and on the predictions topic."""

from __future__ import annotations

import uuid

from confluent_kafka import Consumer

from scorecast.app.produce_cli import produce_synthetic
from scorecast.cassandra import connect
from scorecast.settings import Settings
from scorers.registry import ModelVersion
from tests.integration.pipeline.conftest import RunWorker


def count_topic(settings: Settings, topic: str, expected: int, timeout_s: float = 60.0) -> int:
    consumer = Consumer(
        {**settings.kafka_config(), "group.id": f"count-{uuid.uuid4()}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    seen = 0
    idle = 0
    try:
        while seen < expected and idle < int(timeout_s):
            messages = consumer.consume(5000, 1.0)
            good = [m for m in messages if m.error() is None]
            seen += len(good)
            idle = 0 if good else idle + 1
    finally:
        consumer.close()
    return seen


def test_every_event_is_scored_once_by_the_champion(
    pipeline_settings: Settings, registered: list[ModelVersion], run_worker: RunWorker
) -> None:
    settings = pipeline_settings
    n = 20_000
    produce_synthetic(settings, "transactions", count=n, seed=3, labels=False)
    stats = run_worker()
    assert stats.scored == n
    assert stats.dead_lettered == 0
    champion = next(v.version for v in registered if v.metrics.get("kind") == "lightgbm")
    session = connect(settings, settings.keyspace)
    try:
        rows = list(session.execute("SELECT model, version, event_id, score, variant FROM predictions"))
    finally:
        session.cluster.shutdown()
    assert len(rows) == n
    assert len({r.event_id for r in rows}) == n
    assert {(r.model, r.version, r.variant) for r in rows} == {("fraud", champion, "champion")}
    assert all(0.0 <= r.score <= 1.0 for r in rows)
    assert count_topic(settings, settings.topic("transactions", "predictions"), n) == n
