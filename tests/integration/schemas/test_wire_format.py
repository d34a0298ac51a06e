"""Confluent wire format through real Kafka: independently built bytes decode with our codec and vice versa."""

from __future__ import annotations

import io
import json
import struct

from confluent_kafka import Producer
from fastavro import parse_schema, schemaless_reader, schemaless_writer

from schemas.batch import EventBatchDecoder
from schemas.codec import AvroCodec
from schemas.features import AVRO_DIR, encode, load_feature_spec
from schemas.registry import LocalSchemaStore
from schemas.synthetic import TransactionGenerator
from scorecast import EventProducer
from scorecast.settings import Settings
from tests.integration.producer.reading import read_topic

SCHEMA = parse_schema(json.loads((AVRO_DIR / "transactions.events.avsc").read_text()))


def test_bytes_built_with_fastavro_and_struct_decode_with_our_codec(settings: Settings) -> None:
    topic = settings.topic("transactions", "events")
    schema_id = LocalSchemaStore().writer_id(topic, "transactions.events")
    records = TransactionGenerator(seed=21).generate(200).records
    producer = Producer(settings.kafka_config())
    for record in records:
        body = io.BytesIO()
        schemaless_writer(body, SCHEMA, record)
        producer.produce(topic, struct.pack(">bI", 0, schema_id) + body.getvalue(), record["entity_id"].encode())
    assert producer.flush(30) == 0

    values = [m.value() or b"" for m in read_topic(settings, topic, 200, timeout_s=30)]
    codec = AvroCodec(LocalSchemaStore(), topic, "transactions.events")
    by_id = {r["event_id"]: r for r in records}
    assert all(codec.decode(v) == by_id[codec.decode(v)["event_id"]] for v in values)
    batch = EventBatchDecoder(LocalSchemaStore(), "transactions").decode(values)
    assert batch.failures == []
    expected = encode(load_feature_spec("transactions"), [by_id[e] for e in batch.event_ids])
    assert (batch.features == expected).all()


def test_our_bytes_decode_with_plain_fastavro_after_the_header(settings: Settings) -> None:
    topic = settings.topic("transactions", "events")
    records = TransactionGenerator(seed=22).generate(200).records
    with EventProducer(settings, "transactions") as producer:
        for record in records:
            producer.send(record)
    assert producer.report.delivered == 200

    by_id = {r["event_id"]: r for r in records}
    for message in read_topic(settings, topic, 200, timeout_s=30):
        value = message.value() or b""
        magic, schema_id = struct.unpack(">bI", value[:5])
        assert magic == 0
        assert schema_id == LocalSchemaStore().writer_id(topic, "transactions.events")
        decoded = schemaless_reader(io.BytesIO(value[5:]), SCHEMA, None)
        assert isinstance(decoded, dict)
        original = by_id[decoded["event_id"]]
        assert int(decoded.pop("event_time").timestamp() * 1000) == original["event_time"]
        assert decoded == {k: v for k, v in original.items() if k != "event_time"}
