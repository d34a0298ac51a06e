"""The bounded range reader's policy on a consumer double: ends, markers, prefetch past the end, stalls."""

from __future__ import annotations

from typing import Any, cast

import pytest
from confluent_kafka import Consumer, KafkaError, Message

from scorecast.errors import ConfigError, RetryableError
from scorecast.io.reader import RangeBatch, Span, read_range
from scorecast.io.testing import ConsumerDouble, end_of_partition, record


def read(double: ConsumerDouble, spans: list[Span], **options: Any) -> list[RangeBatch]:
    return list(read_range(cast("Consumer", double), "t", spans, **options))


def test_each_partition_is_read_from_its_start_to_its_end_and_then_paused() -> None:
    double = ConsumerDouble([[record(0, 5), record(1, 0), record(0, 6)], [record(1, 1)]])
    batches = read(double, [Span(0, 5, 7), Span(1, 0, 2)])
    assert double.assigned == [(0, 5), (1, 0)]
    assert [(b.partitions, b.offsets) for b in batches] == [([0, 1, 0], [5, 0, 6]), ([1], [1])]
    assert [b.advanced for b in batches] == [{0: 7, 1: 1}, {1: 2}]
    assert double.paused == [0, 1]


def test_records_prefetched_past_the_end_are_dropped() -> None:
    double = ConsumerDouble([[record(0, 0), record(0, 1), record(0, 2), record(0, 3)]])
    (batch,) = read(double, [Span(0, 0, 2)])
    assert batch.offsets == [0, 1]
    assert batch.advanced == {0: 2}


def test_a_range_ending_in_control_records_ends_at_end_of_partition() -> None:
    # offsets 2 and 3 are transaction markers: no record at end - 1 ever arrives
    double = ConsumerDouble([[record(0, 0), record(0, 1)], [], [end_of_partition(0, 4)]])
    batches = read(double, [Span(0, 0, 4)])
    assert [b.offsets for b in batches] == [[0, 1], []]
    assert batches[-1].advanced == {0: 4}


def test_end_of_partition_before_the_end_is_not_the_end() -> None:
    double = ConsumerDouble([[end_of_partition(0, 1)], [record(0, 1)]])
    batches = read(double, [Span(0, 0, 2)])
    assert batches[-1].advanced == {0: 2}


def test_a_range_that_stops_arriving_is_a_retryable_stall_not_an_endless_loop() -> None:
    now = [0.0]

    def clock() -> float:
        now[0] += 1.0
        return now[0]

    double = ConsumerDouble([[record(0, 0)]])
    with pytest.raises(RetryableError, match="stalled"):
        read(double, [Span(0, 0, 5)], stall_s=10.0, clock=clock)


def test_a_consumer_error_is_translated() -> None:
    failed = Message(topic="t", partition=0, offset=0, error=KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART))
    with pytest.raises(ConfigError, match="reading t"):
        read(ConsumerDouble([[failed]]), [Span(0, 0, 1)])


def test_empty_spans_read_nothing() -> None:
    double = ConsumerDouble([])
    assert read(double, [Span(0, 3, 3)]) == []
    assert double.assigned == []
