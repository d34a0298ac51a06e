"""The tee handler copies the sampled events unchanged, adds their origin, and refuses to lose any."""

from __future__ import annotations

import pytest
from confluent_kafka import TIMESTAMP_CREATE_TIME, KafkaError, Message

from scorecast.io.producer import DeliveryError, KafkaProducer
from scorecast.io.testing import ProducerDouble
from scorecast.settings import Settings
from shadow.sampling import EntitySampler
from shadow.tee import PRODUCED_HEADER, SOURCE_HEADER, TeeHandler


def events(n: int) -> list[Message]:
    return [
        Message(
            topic="transactions.events", partition=i % 2, offset=100 + i, key=f"card-{i % 7}".encode(),
            value=b"avro-%d" % i, headers=[("traceparent", b"00-abc-%d-01" % i)],
            timestamp=(TIMESTAMP_CREATE_TIME, 1_700_000_000_000 + i),
        )
        for i in range(n)
    ]  # fmt: skip


def tee(producer: ProducerDouble, sample: float = 1.0) -> TeeHandler:
    return TeeHandler("transactions.shadow", EntitySampler(sample), KafkaProducer(Settings(), client=producer))


def test_a_copy_keeps_key_value_timestamp_and_headers_and_adds_its_origin() -> None:
    producer = ProducerDouble()
    handler = tee(producer)
    batch = events(10)
    handler(batch)()
    assert len(producer.produced) == 10
    for m, copy in zip(batch, producer.produced, strict=True):
        assert (copy["topic"], copy["key"], copy["value"]) == ("transactions.shadow", m.key(), m.value())
        assert copy["timestamp"] == m.timestamp()[1]
        assert copy["headers"] == [
            *(m.headers() or []),
            (SOURCE_HEADER, b"%d:%d" % (m.partition() or 0, m.offset() or 0)),
            (PRODUCED_HEADER, b"%d" % m.timestamp()[1]),
        ]
    assert (handler.stats.consumed, handler.stats.copied) == (10, 10)


def test_only_sampled_entities_are_copied() -> None:
    producer = ProducerDouble()
    sampler = EntitySampler(0.4)
    batch = events(200)
    tee(producer, 0.4)(batch)()
    assert [c["key"] for c in producer.produced] == [m.key() for m in batch if sampler.keeps(m.key() or b"")]
    assert 0 < len(producer.produced) < 200


def test_a_failed_delivery_raises_and_the_retry_copies_again() -> None:
    producer = ProducerDouble(fail_with=KafkaError(KafkaError._MSG_TIMED_OUT))
    deliver = tee(producer)(events(5))
    with pytest.raises(DeliveryError, match=r"5 of 5 messages to transactions\.shadow not delivered"):
        deliver()
    producer.fail_with = None
    deliver()  # what the BatchConsumer does before it commits
    assert len(producer.produced) == 10  # at least once: downstream upserts absorb the repeat


def test_a_full_local_queue_is_drained_not_dropped() -> None:
    producer = ProducerDouble(full_times=3)
    tee(producer)(events(4))()
    assert len(producer.produced) == 4
    assert producer.polls >= 3


def test_an_event_without_a_timestamp_gets_no_produce_time() -> None:
    producer = ProducerDouble()
    tee(producer)([Message(topic="t", partition=1, offset=7, key=b"k", value=b"v")])()
    (copy,) = producer.produced
    assert copy["timestamp"] == 0
    assert copy["headers"] == [(SOURCE_HEADER, b"1:7")]
