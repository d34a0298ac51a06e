"""The dead-letter convention without a broker: headers, the typed record, and failures that surface."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, Message

from schemas.batch import DecodeFailure
from schemas.codec import AvroCodec
from schemas.dead_letters import ORIGINAL_SIZE, PREFIX, TRUNCATED, DeadLetter, DeadLetterError, DeadLetterSink
from schemas.errors import SchemaError
from schemas.registry import LocalSchemaStore
from scorecast.errors import RetryableError
from scorecast.io.producer import KafkaProducer
from scorecast.io.testing import ProducerDouble
from scorecast.settings import Settings

SETTINGS = Settings(topic_prefix="unit.")


def _sink(double: ProducerDouble, **options: Any) -> DeadLetterSink:
    producer = KafkaProducer(SETTINGS, client=double, max_queue_wait_s=options.pop("max_queue_wait_s", 60.0))
    return DeadLetterSink(SETTINGS, "transactions", "scorer", producer=producer, **options)


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
    fake = ProducerDouble()
    sink = _sink(fake)
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
    fake = ProducerDouble(fail_with=KafkaError(KafkaError._MSG_TIMED_OUT))
    sink = _sink(fake)
    sink.send(_message(), "undecodable", "truncated")
    with pytest.raises(DeadLetterError, match=r"1 dead letters to unit\.transactions\.dead-letters not delivered"):
        sink.flush()


def test_a_full_queue_is_waited_out_for_a_bounded_time() -> None:
    fake = ProducerDouble(full_times=3)
    sink = _sink(fake)
    sink.send(_message(), "undecodable", "x")
    sink.flush()
    assert len(fake.produced) == 1
    assert fake.polls >= 3

    stuck = ProducerDouble(full_times=10**9)
    sink = _sink(stuck, max_queue_wait_s=0.2)
    with pytest.raises(RetryableError, match="queue still full"):  # a full queue never blocks for ever
        sink.send(_message(), "undecodable", "x")
    assert isinstance(DeadLetterError("x"), RetryableError)  # the caller retries the batch, never commits past it


def _big_message(size: int) -> Message:
    return Message(topic="unit.transactions.events", partition=1, offset=7, key=b"k", value=b"\x01" * size)


def test_a_letter_over_the_size_limit_is_cut_and_marked() -> None:
    fake = ProducerDouble()
    sink = _sink(fake, max_bytes=10_000)
    sink.send(_big_message(1_000_000), "undecodable", "junk")
    sink.send(_message(), "undecodable", "small")
    sink.flush()
    big, small = fake.produced
    headers = dict(big["headers"])
    assert headers[TRUNCATED] == b"value"
    assert headers[ORIGINAL_SIZE] == b"1000000"
    assert headers[f"{PREFIX}reason"] == b"undecodable"
    assert headers[f"{PREFIX}source.offset"] == b"7"
    assert big["value"] == b"\x01" * len(big["value"])  # a prefix of the original
    size = len(big["value"]) + len(big["key"]) + sum(len(k) + len(v or b"") for k, v in big["headers"])
    assert 9_000 < size <= 10_000
    assert TRUNCATED not in dict(small["headers"])  # a letter that fits is unchanged
    assert small["value"] == _message().value()
    assert sink.truncated == 1


class SizeLimitedProducer(ProducerDouble):
    """Refuses messages over ``limit`` bytes of value, as the broker does for a topic's max.message.bytes."""

    def __init__(self, limit: int, synchronous: bool) -> None:
        super().__init__()
        self.limit = limit
        self.synchronous = synchronous
        self.refused = 0

    def produce(self, topic: str, value: bytes | None, key: bytes | None = None, **kwargs: Any) -> None:
        on_delivery = kwargs["on_delivery"]
        if len(value or b"") <= self.limit:
            super().produce(topic, value, key, **kwargs)
        elif self.synchronous:  # librdkafka refuses over message.max.bytes before queueing
            self.refused += 1
            raise KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
        else:  # the broker refuses over the topic's max.message.bytes in the delivery report
            self.refused += 1
            on_delivery(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE), Message(topic=topic, key=key, value=value))


@pytest.mark.parametrize("synchronous", [True, False])
def test_a_letter_the_topic_refuses_as_too_large_is_sent_again_smaller(synchronous: bool) -> None:
    fake = SizeLimitedProducer(limit=50_000, synchronous=synchronous)
    sink = _sink(fake)
    sink.send(_big_message(900_000), "undecodable", "junk")
    sink.flush()  # does not raise: the letter went out, cut
    (letter,) = fake.produced
    headers = dict(letter["headers"])
    assert headers[TRUNCATED] == b"value"
    assert headers[ORIGINAL_SIZE] == b"900000"
    assert 25_000 < len(letter["value"]) <= 50_000
    assert fake.refused >= 1


def test_a_letter_refused_for_another_permanent_reason_is_dropped_not_retried_for_ever() -> None:
    fake = ProducerDouble(fail_with=KafkaError(KafkaError.INVALID_RECORD))
    sink = _sink(fake)
    sink.send(_message(), "undecodable", "x")
    sink.flush()
    assert sink.dropped == 1
