"""A record a sink refuses, or whose dead-letter copy is too large, never holds its partition back."""

from __future__ import annotations

import random
import threading

from confluent_kafka import Message, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._config import AlterConfigOpType, ConfigEntry, ConfigResource

from schemas.codec import AvroCodec
from schemas.dead_letters import ORIGINAL_SIZE, TRUNCATED, DeadLetter
from schemas.registry import open_store
from schemas.synthetic import TransactionGenerator
from scorecast.cassandra import connect
from scorecast.settings import Settings
from scorers.outputs import SINK_REJECTED
from scorers.registry import ModelVersion
from scorers.worker import WorkerStats
from tests.integration.pipeline.conftest import RunWorker
from tests.integration.producer.reading import read_topic

STREAM = "transactions"
GIVE_UP_S = 90.0  # a stalled worker is stopped then, and fails the test instead of hanging it


def _set_max_message_bytes(settings: Settings, topic: str, limit: int) -> None:
    admin = AdminClient(settings.kafka_config())
    resource = ConfigResource(
        ConfigResource.Type.TOPIC,
        topic,
        incremental_configs=[ConfigEntry("max.message.bytes", str(limit), incremental_operation=AlterConfigOpType.SET)],
    )
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(30)


def _produce(settings: Settings, values: list[tuple[bytes, bytes]]) -> None:
    producer = Producer({**settings.kafka_config(), "message.max.bytes": 3_000_000})
    for key, value in values:  # one partition: the poison comes first, in front of every good event
        producer.produce(settings.topic(STREAM, "events"), value, key, partition=0)
    assert producer.flush(60) == 0


def _stored_event_ids(settings: Settings) -> set[str]:
    session = connect(settings, settings.keyspace)
    try:
        return {r.event_id for r in session.execute("SELECT event_id FROM predictions")}
    finally:
        session.cluster.shutdown()


def _run_until_idle(run_worker: RunWorker) -> WorkerStats:
    stop = threading.Event()
    timer = threading.Timer(GIVE_UP_S, stop.set)
    timer.start()
    try:
        stats = run_worker(idle_exit_s=4.0, stop=stop)
    finally:
        timer.cancel()
    assert not stop.is_set(), f"the worker was still busy after {GIVE_UP_S:.0f}s: a record stalled its partition"
    return stats


def _letters(settings: Settings, expected: int) -> dict[int, tuple[Message, DeadLetter]]:
    letters = read_topic(settings, settings.topic(STREAM, "dead-letters"), expected, timeout_s=30)
    assert len(letters) == expected
    return {DeadLetter.from_message(m).source_offset: (m, DeadLetter.from_message(m)) for m in letters}


def test_a_huge_entity_id_and_a_huge_junk_value_do_not_stall_the_partition(
    pipeline_settings: Settings, registered: list[ModelVersion], run_worker: RunWorker
) -> None:
    settings = pipeline_settings
    events = settings.topic(STREAM, "events")
    _set_max_message_bytes(settings, events, 3_000_000)
    # Lower than the producer's own 1 MB limit: the broker, not librdkafka, refuses the full-size copy.
    _set_max_message_bytes(settings, settings.topic(STREAM, "dead-letters"), 200_000)
    codec = AvroCodec(open_store(settings), events, f"{STREAM}.events")
    records = TransactionGenerator(seed=21).generate(501).records
    poison = {**records[0], "entity_id": "x" * 70_000}  # a valid Avro string; no Cassandra key can hold it
    junk = random.Random(3).randbytes(1_000_000)  # incompressible: the broker checks compressed size
    good = records[1:]
    _produce(
        settings,
        [(b"poison", codec.encode(poison, check=False)), (b"junk", junk)]
        + [(r["entity_id"].encode(), codec.encode(r)) for r in good],
    )

    _run_until_idle(run_worker)

    assert _stored_event_ids(settings) == {r["event_id"] for r in good}
    letters = _letters(settings, 2)
    message, letter = letters[0]
    assert letter.source_topic == events
    assert letter.reason  # refused by the sink, or before it by the consume-side rules
    assert len(message.value() or b"") > 70_000  # the whole original event
    message, letter = letters[1]
    headers = dict(message.headers() or [])
    assert headers[TRUNCATED] == b"value"
    assert headers[ORIGINAL_SIZE] == b"1000000"
    assert letter.source_topic == events
    assert letter.reason
    value = message.value() or b""
    assert 0 < len(value) <= 200_000
    assert value == junk[: len(value)]


def test_an_event_the_sink_refuses_is_dead_lettered_and_the_rest_are_scored(
    pipeline_settings: Settings, registered: list[ModelVersion], run_worker: RunWorker
) -> None:
    settings = pipeline_settings
    session = connect(settings, settings.keyspace)
    # A sink whose event_id column is an address (inet): every event id below is within the event rules (the
    # lookup key's characters), but only those that are addresses can be stored. The table's own type refuses
    # one row, every time; nothing else about it is wrong.
    try:
        session.execute("DROP TABLE predictions")
        session.execute(
            "CREATE TABLE predictions (model text, version int, entity_id text, event_time timestamp, "
            "event_id inet, score double, outputs map<text, double>, scored_at timestamp, variant text, "
            "trace_id text, PRIMARY KEY ((model, version, entity_id), event_time, event_id))"
        )
    finally:
        session.cluster.shutdown()
    events = settings.topic(STREAM, "events")
    codec = AvroCodec(open_store(settings), events, f"{STREAM}.events")
    records = [
        {**r, "event_id": f"10.0.{i // 256}.{i % 256}"}
        for i, r in enumerate(TransactionGenerator(seed=22).generate(500).records)
    ]
    refused = {**records[250], "event_id": "evt-250"}
    records[250] = refused
    _produce(settings, [(r["entity_id"].encode(), codec.encode(r)) for r in records])

    stats = _run_until_idle(run_worker)

    assert (stats.scored, stats.dead_lettered) == (499, 1)
    assert _stored_event_ids(settings) == {r["event_id"] for i, r in enumerate(records) if i != 250}
    ((message, letter),) = _letters(settings, 1).values()
    assert letter.reason == SINK_REJECTED
    assert letter.error_class == "PermanentError"
    assert letter.source_offset == 250
    assert message.value() == codec.encode(refused)  # the original event, unchanged
    assert message.value() == codec.encode(refused)
