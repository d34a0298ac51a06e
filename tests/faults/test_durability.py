"""What a client was told is stored survives kill -9 of the local Cassandra or Kafka (issue 15, defect 1).

Each test writes, is acknowledged, kills the service with SIGKILL at once (no flush, no drain), restarts it and
reads everything back from the restarted service.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from cassandra.concurrent import execute_concurrent_with_args
from confluent_kafka import Consumer

from infra.migrations import discover
from schemas.synthetic import TransactionGenerator
from scorecast.cassandra import connect
from scorecast.producer import EventProducer
from scorecast.settings import Settings
from scorers.registry import Registry
from scorers.training import ExampleModel, register_examples
from tests.faults.cluster import FaultCluster

ROWS = 2_000


def test_cassandra_kill_9_keeps_acknowledged_rows_new_schema_and_registry(
    settings: Settings, cluster: FaultCluster, example_models: list[ExampleModel], tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"model_store": str(tmp_path / "models"), "onnx_device": "cpu"})
    with Registry.open(settings) as registry:
        register_examples(registry, example_models)
        versions = registry.versions("fraud")
        aliases = registry.aliases("fraud")
        history = registry.history("fraud")
    ks = settings.keyspace
    session = connect(settings, ks)
    try:
        insert = session.prepare(
            "INSERT INTO predictions (model, version, entity_id, event_time, event_id, score) VALUES (?, ?, ?, ?, ?, ?)"
        )
        rows = [("fraud", 1, f"card-{i % 97}", 1_700_000_000_000 + i, f"e-{i}", i / ROWS) for i in range(ROWS)]
        results = execute_concurrent_with_args(session, insert, rows, concurrency=32, raise_on_first_error=True)
        assert all(ok for ok, _ in results)
        # Schema changes acknowledged just before the crash (a keyspace, a table in each), and a row in each.
        session.execute(
            f"CREATE KEYSPACE {ks}_new WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}",
            timeout=60,
        )
        for keyspace in (ks, f"{ks}_new"):
            session.execute(f"CREATE TABLE {keyspace}.created_before_kill (id int PRIMARY KEY, note text)", timeout=60)
            session.execute(f"INSERT INTO {keyspace}.created_before_kill (id, note) VALUES (1, 'acknowledged')")
    finally:
        session.cluster.shutdown()

    cluster.kill("cassandra")
    cluster.restart()

    session = connect(settings)
    try:
        keyspaces = {r.keyspace_name for r in session.execute("SELECT keyspace_name FROM system_schema.keyspaces")}
        assert ks in keyspaces, "the keyspace was lost"
        session.set_keyspace(ks)
        stored = {r.event_id: r.score for r in session.execute("SELECT event_id, score FROM predictions")}
        assert stored == {row[4]: row[5] for row in rows}
        for keyspace in (ks, f"{ks}_new"):
            note = session.execute(f"SELECT note FROM {keyspace}.created_before_kill WHERE id = 1").one()
            assert note is not None, f"{keyspace}.created_before_kill lost its row"
            assert note.note == "acknowledged"
        migrations = session.execute("SELECT version FROM schema_migrations")
        assert sorted(r.version for r in migrations) == [m.version for m in discover()]
    finally:
        session.execute(f"DROP KEYSPACE IF EXISTS {ks}_new", timeout=60)
        session.cluster.shutdown()
    with Registry.open(settings) as registry:
        assert registry.versions("fraud") == versions
        assert registry.aliases("fraud") == aliases
        assert registry.history("fraud") == history


def test_kafka_kill_9_keeps_every_event_acknowledged_with_acks_all(settings: Settings, cluster: FaultCluster) -> None:
    stream = "transactions"
    records = TransactionGenerator(seed=3, start_ms=int(time.time() * 1000)).generate(ROWS).records
    with EventProducer(settings, stream) as producer:  # acks=all, idempotent; close() waits for every ack
        for record in records:
            producer.send(record)
    cluster.kill("kafka")
    cluster.restart()

    consumer = Consumer(
        {**settings.kafka_config(), "group.id": f"check-{uuid.uuid4()}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([settings.topic(stream, "events")])
    received = 0
    deadline = time.monotonic() + 60
    try:
        while received < ROWS and time.monotonic() < deadline:
            received += sum(1 for m in consumer.consume(1000, 1.0) if m.error() is None)
        received += sum(1 for m in consumer.consume(1000, 2.0) if m.error() is None)  # nothing more may come
    finally:
        consumer.close()
    assert received == ROWS
