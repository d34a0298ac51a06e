"""The dead-letter convention through real Kafka: failed records go out with their bytes and their story."""

from __future__ import annotations

import struct

from confluent_kafka import Producer

from schemas.batch import EventBatchDecoder
from schemas.codec import AvroCodec
from schemas.dead_letters import DeadLetter, DeadLetterSink
from schemas.registry import LocalSchemaStore
from schemas.synthetic import TransactionGenerator
from scorecast.settings import Settings
from tests.integration.producer.reading import read_topic


def test_decode_failures_are_dead_lettered_with_original_bytes_and_source(settings: Settings) -> None:
    events = settings.topic("transactions", "events")
    store = LocalSchemaStore()
    codec = AvroCodec(store, events, "transactions.events")
    records = TransactionGenerator(seed=41).generate(6).records
    values = [codec.encode(r) for r in records]
    values[2] = b"definitely not avro"
    values[4] = struct.pack(">bI", 0, 777) + values[4][5:]
    producer = Producer(settings.kafka_config())
    for record, value in zip(records, values, strict=True):
        producer.produce(events, value, record["entity_id"].encode(), headers=[("traceparent", b"00-abc-def-01")])
    assert producer.flush(30) == 0

    messages = read_topic(settings, events, 6, timeout_s=30)
    batch = EventBatchDecoder(store, "transactions").decode([m.value() for m in messages])
    assert len(batch) == 4
    sink = DeadLetterSink(settings, "transactions", consumer="scorer-test")
    sent = sink.send_failures(messages, batch.failures)
    sink.flush()
    assert sorted(d.reason for d in sent) == ["bad-header", "unknown-schema-id"]

    letters = read_topic(settings, settings.topic("transactions", "dead-letters"), 2, timeout_s=30)
    assert len(letters) == 2
    sources = {(m.partition(), m.offset()): m for m in messages}
    for letter in letters:
        read = DeadLetter.from_message(letter)
        source = sources[(read.source_partition, read.source_offset)]
        assert read.source_topic == events
        assert letter.value() == source.value()  # the original bytes, unchanged
        assert letter.key() == source.key()
        assert read.consumer == "scorer-test"
        assert read.error_class == "DecodeFailure"
        assert ("traceparent", b"00-abc-def-01") in (letter.headers() or [])
        assert read.reason in ("bad-header", "unknown-schema-id")
        assert read.reason != "unknown-schema-id" or read.error == "777"
        # The typed view is a valid record of the dead-letters schema.
        dead_letters = AvroCodec(store, settings.topic("transactions", "dead-letters"), "dead-letters")
        assert dead_letters.decode(dead_letters.encode(read.to_record())) == read.to_record()
