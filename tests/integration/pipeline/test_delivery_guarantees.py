"""At-least-once with idempotent writes: scale-out, a kill -9 in the middle, and bad events on the way."""

from __future__ import annotations

import math
import struct
import subprocess
import time
import uuid

from confluent_kafka import Consumer, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from schemas.codec import AvroCodec
from schemas.registry import open_store
from schemas.synthetic import TransactionGenerator
from scorecast.app.produce_cli import produce_synthetic
from scorecast.cassandra import connect
from scorecast.settings import Settings
from scorers.registry import ModelVersion
from scorers.worker import WorkerConfig
from tests.integration.pipeline.conftest import RunWorker, SpawnWorker

STREAM = "transactions"


def stored_event_ids(settings: Settings) -> list[str]:
    session = connect(settings, settings.keyspace)
    try:
        return [r.event_id for r in session.execute("SELECT event_id FROM predictions")]
    finally:
        session.cluster.shutdown()


def committed(settings: Settings, group: str) -> int:
    """Sum of the group's committed offsets over the events topic."""
    topic = settings.topic(STREAM, "events")
    consumer = Consumer({**settings.kafka_config(), "group.id": group})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        offsets = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
        return sum(max(tp.offset, 0) for tp in offsets)
    finally:
        consumer.close()


def wait_for_members(settings: Settings, group: str, members: int, timeout_s: float = 120) -> None:
    """Until the consumer group is stable with ``members`` members that each hold a partition."""
    admin = AdminClient(settings.kafka_config())
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        description = admin.describe_consumer_groups([group])[group].result()
        held = [m for m in description.members if m.assignment and m.assignment.topic_partitions]
        if str(description.state) == "ConsumerGroupState.STABLE" and len(held) == members:
            return
        time.sleep(0.5)
    raise AssertionError(f"group {group} never had {members} members with partitions")


def wait_for(process: subprocess.Popen[str], timeout_s: float = 300) -> str:
    output, _ = process.communicate(timeout=timeout_s)
    assert process.returncode == 0, output
    return output


def test_two_workers_share_the_partitions_and_miss_nothing(
    pipeline_settings: Settings, registered: list[ModelVersion], spawn_worker: SpawnWorker
) -> None:
    n = 200_000
    workers = [spawn_worker("--idle-exit", "10"), spawn_worker("--idle-exit", "10")]
    group = pipeline_settings.group_id(WorkerConfig(stream=STREAM, model="fraud").group)
    wait_for_members(pipeline_settings, group, 2)
    result = produce_synthetic(pipeline_settings, STREAM, count=n, seed=11, labels=False)
    assert result.sent == n
    outputs = [wait_for(w) for w in workers]
    for output in outputs:
        assert "scored 0 events" not in output, output  # each worker took a share
    ids = stored_event_ids(pipeline_settings)
    assert len(ids) == n
    assert len(set(ids)) == n


def test_kill_9_in_the_middle_then_restart_loses_and_duplicates_nothing(
    pipeline_settings: Settings, registered: list[ModelVersion], spawn_worker: SpawnWorker
) -> None:
    n = 100_000
    produce_synthetic(pipeline_settings, STREAM, count=n, seed=12, labels=False)
    group = pipeline_settings.group_id(WorkerConfig(stream=STREAM, model="fraud").group)
    victim = spawn_worker()
    deadline = time.monotonic() + 120
    while committed(pipeline_settings, group) < n // 5 and time.monotonic() < deadline:
        time.sleep(0.2)
    progress = committed(pipeline_settings, group)
    assert 0 < progress < n, "the worker must be stopped in the middle of the stream"
    victim.kill()  # SIGKILL: no drain, no commit of the batch in hand
    victim.wait()
    wait_for(spawn_worker("--idle-exit", "6"))
    assert committed(pipeline_settings, group) == n
    ids = stored_event_ids(pipeline_settings)
    assert len(ids) == n
    assert len(set(ids)) == n


def test_malformed_events_go_to_the_dead_letter_topic_and_the_rest_are_scored(
    pipeline_settings: Settings, registered: list[ModelVersion], run_worker: RunWorker
) -> None:
    settings = pipeline_settings
    topic = settings.topic(STREAM, "events")
    codec = AvroCodec(open_store(settings), topic, f"{STREAM}.events")
    records = TransactionGenerator(seed=5).generate(10_000).records
    bad_values = []
    for i in range(100):  # 1%: five kinds of bad input
        record = dict(records[i])
        kind = i % 5
        if kind == 0:
            value = b"not avro at all"
        elif kind == 1:
            value = struct.pack(">bI", 0, 987_654) + b"\x02"  # unknown schema id
        elif kind == 2:
            value = codec.encode(record)[:-9]  # truncated body
        elif kind == 3:
            record["amount"] = math.nan
            value = codec.encode(record, check=False)
        else:
            record["distance_from_home_km"] = math.inf
            value = codec.encode(record, check=False)
        bad_values.append(value)
    producer = Producer(settings.kafka_config())
    for i, record in enumerate(records[100:]):
        producer.produce(topic, codec.encode(record), record["entity_id"].encode())
        if i % 99 == 0:
            bad = bad_values[i // 99]
            producer.produce(topic, bad, f"bad-{i}".encode())
    assert producer.flush(30) == 0
    stats = run_worker()
    assert stats.scored == 9_900
    assert stats.dead_lettered == 100
    consumer = Consumer({**settings.kafka_config(), "group.id": f"dlq-{uuid.uuid4()}", "auto.offset.reset": "earliest"})
    consumer.subscribe([settings.topic(STREAM, "dead-letters")])
    letters: list[Message] = []
    deadline = time.monotonic() + 60
    while len(letters) < 100 and time.monotonic() < deadline:
        letters += [m for m in consumer.consume(500, 1.0) if m.error() is None]
    consumer.close()
    assert len(letters) == 100
    assert sorted(m.value() or b"" for m in letters) == sorted(bad_values)  # original bytes, unchanged
    headers = [_headers(m) for m in letters]
    assert {h["scorecast.dlq.reason"] for h in headers} == {
        "bad-header",
        "unknown-schema-id",
        "undecodable",
        "non-finite-feature",
    }
    for h in headers:
        assert h["scorecast.dlq.source.topic"] == topic
        assert int(h["scorecast.dlq.source.offset"]) >= 0
    assert len(stored_event_ids(settings)) == 9_900


def _headers(message: Message) -> dict[str, str]:
    pairs = message.headers() or []
    items = pairs.items() if isinstance(pairs, dict) else pairs
    return {k: v.decode() if isinstance(v, bytes) else str(v) for k, v in items}
