"""The real services answer, and a record and a row make the round trip."""

from __future__ import annotations

import uuid

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from scorecast.cassandra import connect
from scorecast.settings import Settings


def test_kafka_round_trip(settings: Settings) -> None:
    topic = settings.topic("transactions", "events")
    assert topic in AdminClient(settings.kafka_config()).list_topics(timeout=10).topics
    payload = uuid.uuid4().bytes
    producer = Producer({**settings.kafka_config(), "enable.idempotence": True})
    producer.produce(topic, key=b"card-1", value=payload)
    assert producer.flush(10) == 0
    consumer = Consumer({**settings.kafka_config(), "group.id": f"g-{uuid.uuid4()}", "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    try:
        received = None
        for _ in range(60):
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                received = message
                break
    finally:
        consumer.close()
    assert received is not None
    assert received.key() == b"card-1"
    assert received.value() == payload


def test_cassandra_version_and_row_round_trip(settings: Settings) -> None:
    session = connect(settings, settings.keyspace)
    try:
        version = session.execute("SELECT release_version FROM system.local").one().release_version
        assert version.startswith("5.0.")
        session.execute(
            "INSERT INTO predictions (model, version, entity_id, event_time, event_id, score) "
            "VALUES (%s, %s, %s, toTimestamp(now()), %s, %s)",
            ("fraud", 1, "card-1", "e-1", 0.25),
        )
        row = session.execute(
            "SELECT event_id, score FROM predictions WHERE model=%s AND version=%s AND entity_id=%s",
            ("fraud", 1, "card-1"),
        ).one()
        assert (row.event_id, row.score) == ("e-1", 0.25)
    finally:
        session.cluster.shutdown()


def test_init_is_idempotent(settings: Settings) -> None:
    from infra.init import initialise

    again = initialise(settings)
    assert again.topics_created == []
    assert again.migrations_applied == []
