"""The consume side applies the event rules: records written by any client (raw bytes, not the SDK) that break
them are dead-lettered with their reason and never reach Cassandra; the good ones around them are scored."""

from __future__ import annotations

import io
import struct
import time
from typing import Any

from confluent_kafka import Producer
from fastavro import parse_schema, schemaless_writer

from schemas.dead_letters import DeadLetter
from schemas.registry import open_store, schema_name
from schemas.synthetic import TransactionGenerator
from scorecast.settings import Settings
from scorers.registry import ModelVersion
from tests.integration.pipeline.conftest import RunWorker
from tests.integration.pipeline.test_delivery_guarantees import stored_event_ids
from tests.integration.producer.reading import read_topic

STREAM = "transactions"
GOOD = 500
_STREAM_FIELD = b"\x18transactions"  # the `stream` string as written: zigzag length 12, then its bytes


def _bad_kinds(now_ms: int) -> dict[str, tuple[dict[str, Any], bytes | None, str]]:
    """Kind -> (changed fields, raw bytes replacing the `stream` string or None, expected dead-letter reason)."""
    return {
        "entity-with-space-and-slash": ({"entity_id": "card 1/x"}, None, "invalid-entity-id"),
        "entity-empty": ({"entity_id": ""}, None, "invalid-entity-id"),
        "entity-129-chars": ({"entity_id": "c" * 129}, None, "invalid-entity-id"),
        "entity-70000-chars": ({"entity_id": "c" * 70_000}, None, "invalid-entity-id"),
        "event-id-empty": ({"event_id": ""}, None, "invalid-event-id"),
        "event-id-129-chars": ({"event_id": "e" * 129}, None, "invalid-event-id"),
        "time-year-2200": ({"event_time": 7_258_118_400_000}, None, "event-time-out-of-range"),
        "time-2^60": ({"event_time": 2**60}, None, "event-time-out-of-range"),
        "time-minus-2^62": ({"event_time": -(2**62)}, None, "event-time-out-of-range"),
        "time-an-hour-ahead": ({"event_time": now_ms + 3_600_000}, None, "event-time-out-of-range"),
        "time-1999": ({"event_time": 915_148_800_000}, None, "event-time-out-of-range"),
        "stream-not-utf8": ({}, b"\xfe\xff", "invalid-utf8"),
        "feature-1e308": ({"amount": 1e308}, None, "non-finite-feature"),
    }


def test_records_out_of_rule_from_any_client_are_dead_lettered_and_never_stored(
    pipeline_settings: Settings, registered: list[ModelVersion], run_worker: RunWorker
) -> None:
    settings = pipeline_settings
    topic = settings.topic(STREAM, "events")
    store = open_store(settings)
    name = schema_name(STREAM, "events")
    schema = parse_schema(store.current(name))
    header = struct.pack(">bI", 0, store.writer_id(topic, name))

    def raw(record: dict[str, Any], stream_bytes: bytes | None = None) -> bytes:
        body = io.BytesIO()
        schemaless_writer(body, schema, record)
        value = header + body.getvalue()
        if stream_bytes is not None:
            assert value.count(_STREAM_FIELD) == 1
            value = value.replace(_STREAM_FIELD, bytes([2 * len(stream_bytes)]) + stream_bytes)
        return value

    now_ms = int(time.time() * 1000)
    kinds = _bad_kinds(now_ms)
    records = TransactionGenerator(seed=19, start_ms=now_ms - 60_000).generate(GOOD + len(kinds)).records
    good, spare = records[:GOOD], records[GOOD:]
    producer = Producer(settings.kafka_config())  # a plain client: no SDK validation on the way
    bad_keys: dict[bytes, str] = {}
    per_kind = GOOD // len(kinds)
    for i, record in enumerate(good):
        producer.produce(topic, raw(record), record["entity_id"].encode())
        if i % per_kind == 0 and i // per_kind < len(kinds):
            kind, (changes, stream_bytes, reason) = list(kinds.items())[i // per_kind]
            key = f"bad-{kind}".encode()
            bad_keys[key] = reason
            producer.produce(topic, raw(spare[i // per_kind] | changes, stream_bytes), key)
    assert producer.flush(30) == 0
    assert len(bad_keys) == len(kinds)

    stats = run_worker()
    assert (stats.scored, stats.dead_lettered) == (GOOD, len(kinds))

    letters = read_topic(settings, settings.topic(STREAM, "dead-letters"), len(kinds), timeout_s=60)
    reasons = {m.key(): DeadLetter.from_message(m).reason for m in letters}
    assert len(letters) == len(kinds)
    assert reasons == bad_keys
    stored = stored_event_ids(settings)
    assert sorted(stored) == sorted(r["event_id"] for r in good)  # every good one, and none of the bad
