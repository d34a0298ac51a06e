"""The dead-letter convention without a broker: headers, the typed record, and failures that surface."""

from __future__ import annotations

from typing import cast

import pytest
from confluent_kafka import KafkaError, Message, Producer

from schemas.batch import DecodeFailure
from schemas.codec import AvroCodec
from schemas.dead_letters import PREFIX, DeadLetter, DeadLetterError, DeadLetterSink
from schemas.errors import SchemaError
from schemas.registry import LocalSchemaStore
from scorecast.settings import Settings
from tests.unit.producer.fakes import FakeProducer

SETTINGS = Settings(topic_prefix="unit.")


def _message(offset: int = 42) -> Message:
    return Message(
        topic="unit.transactions.events",
        partition=1,
        offset=offset,
        key=b"card-1",
        value=b"\x00\x00\x00\x00\x07garbage",
        headers=[("traceparent", b"00-1-2-01")],
    )


def test_headers_round_trip_and_the_record_matches_its_schema() -> None:
    letter = DeadLetter.of(_message(), "unknown-schema-id", ValueError("7"), consumer="scorer")
    assert letter.error_class == "ValueError"
    names = [k for k, _ in letter.headers()]
    assert names == [
        f"{PREFIX}{n}"
        for n in (
            "reason",
            "error",
            "error.class",
            "source.topic",
            "source.partition",
            "source.offset",
            "failed_at",
            "consumer",
        )
    ]
    on_the_topic = Message(key=letter.original_key, value=letter.original_value, headers=letter.headers())
    assert DeadLetter.from_message(on_the_topic) == letter
    codec = AvroCodec(LocalSchemaStore(), "unit.transactions.dead-letters", "dead-letters")
    assert codec.decode(codec.encode(letter.to_record())) == letter.to_record()


def test_a_message_without_the_headers_is_not_a_dead_letter() -> None:
    with pytest.raises(SchemaError, match="not a scorecast dead letter"):
        DeadLetter.from_message(_message())


def test_the_sink_sends_original_bytes_with_all_headers() -> None:
    fake = FakeProducer()
    sink = DeadLetterSink(SETTINGS, "transactions", "scorer", producer=cast("Producer", fake))
    messages = [_message(10), _message(11), _message(12)]
    failures = [DecodeFailure(0, "bad-header", "not Confluent wire format"), DecodeFailure(2, "undecodable", "x")]
    letters = sink.send_failures(messages, failures)
    sink.flush()
    assert [d.source_offset for d in letters] == [10, 12]
    assert [p["topic"] for p in fake.produced] == ["unit.transactions.dead-letters"] * 2
    first = fake.produced[0]
    assert (first["key"], first["value"]) == (b"card-1", messages[0].value())
    headers = dict(first["headers"])
    assert headers["traceparent"] == b"00-1-2-01"  # the original headers travel on
    assert headers[f"{PREFIX}reason"] == b"bad-header"
    assert headers[f"{PREFIX}source.offset"] == b"10"
    assert headers[f"{PREFIX}error.class"] == b"DecodeFailure"


def test_the_sink_raises_when_a_dead_letter_is_lost() -> None:
    fake = FakeProducer(fail_with=KafkaError(KafkaError._MSG_TIMED_OUT))
    sink = DeadLetterSink(SETTINGS, "transactions", "scorer", producer=cast("Producer", fake))
    sink.send(_message(), "undecodable", "truncated")
    with pytest.raises(DeadLetterError, match=r"1 dead letters to unit\.transactions\.dead-letters not delivered"):
        sink.flush()
