"""The policy every read mode shares (scorecast.io.read_policy), on the consumer double: records and ends
apart, fatal errors end every read, other errors end a bounded read and are logged by a live one."""

from __future__ import annotations

import logging
from typing import cast

import pytest
from confluent_kafka import Consumer, KafkaError, Message

from scorecast.errors import ConfigError, RetryableError, ServiceUnavailableError
from scorecast.io.read_policy import End, ReadErrors
from scorecast.io.reader import KafkaReader, Span
from scorecast.io.testing import ConsumerDouble, end_of_partition, record

FENCED = KafkaError(KafkaError._FATAL, "Fatal error: Broker: Static consumer fenced by other consumer")


def failed(code: int) -> Message:
    return Message(topic="t", partition=0, offset=0, error=KafkaError(code))


def live(double: ConsumerDouble) -> KafkaReader:
    return KafkaReader(cast("Consumer", double), "Kafka consumer")


def test_records_and_ends_are_sorted_apart_and_an_empty_record_is_a_record() -> None:
    tombstone = Message(topic="t", partition=1, offset=3, value=None)
    batch = ReadErrors("t").sort([record(0, 7), end_of_partition(0, 8), tombstone], bounded=True)
    assert [(m.partition(), m.offset()) for m in batch.records] == [(0, 7), (1, 3)]
    assert batch.ends == [End("t", 0, 8)]


@pytest.mark.parametrize("bounded", [True, False])
def test_a_fatal_coded_error_ends_every_read_even_without_the_fatal_flag(bounded: bool) -> None:
    assert not FENCED.fatal()
    with pytest.raises(ConfigError, match="fenced"):
        ReadErrors("Kafka consumer").sort([record(0, 0), Message(error=FENCED)], bounded=bounded)


def test_a_fatal_error_reported_through_error_cb_ends_the_next_take() -> None:
    reader = live(ConsumerDouble([[record(0, 0)], [record(0, 1)]]))
    assert len(reader.take().records) == 1
    reader.errors.client_error(KafkaError(KafkaError._FATAL, "fenced", fatal=True))
    with pytest.raises(ConfigError, match="fenced"):
        reader.take()


@pytest.mark.parametrize(
    ("code", "raised"),
    [
        (KafkaError.UNKNOWN_TOPIC_OR_PART, ConfigError),
        (KafkaError.TOPIC_AUTHORIZATION_FAILED, ConfigError),
        (KafkaError._TRANSPORT, ServiceUnavailableError),
        (KafkaError.NOT_LEADER_FOR_PARTITION, RetryableError),
    ],
)
def test_a_bounded_read_ends_on_an_error_translated_by_kafka_error(code: int, raised: type[Exception]) -> None:
    reader = KafkaReader(cast("Consumer", ConsumerDouble([[failed(code)]])), "reading t")
    with pytest.raises(raised) as caught:
        list(reader.range("t", [Span(0, 0, 1)]))
    assert type(caught.value) is raised


def test_a_live_read_logs_other_errors_and_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    reader = live(ConsumerDouble([[failed(KafkaError.UNKNOWN_TOPIC_OR_PART), record(0, 0)]]))
    with caplog.at_level(logging.WARNING, logger="scorecast.io.read_policy"):
        batch = reader.take()
    assert [m.offset() for m in batch.records] == [0]
    assert "Kafka consumer error: " in caplog.text


def test_a_live_read_logs_an_error_once_per_kind_not_once_per_poll(caplog: pytest.LogCaptureFixture) -> None:
    """A subscribed topic not created yet comes back on every metadata refresh: one line, again after 60 s."""
    now = [0.0]
    missing, other = failed(KafkaError.UNKNOWN_TOPIC_OR_PART), failed(KafkaError.NOT_LEADER_FOR_PARTITION)
    polls = [[missing]] * 30 + [[other], [missing]]
    reader = KafkaReader(cast("Consumer", ConsumerDouble([*polls, [missing]])), "Kafka consumer",
                         clock=lambda: now[0])  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="scorecast.io.read_policy"):
        for _ in polls:
            reader.take()
            now[0] += 1.0
        now[0] += 60.0
        reader.take()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3  # the missing topic, the other error, the missing topic a minute later
    assert "Unknown topic or partition" in lines[0]
    assert lines[0] == lines[2]


def test_live_quiet_time_counts_from_the_last_record_or_end() -> None:
    now = [0.0]
    double = ConsumerDouble([[record(0, 0)], [], [end_of_partition(0, 1)], []])
    reader = KafkaReader(cast("Consumer", double), "Kafka consumer", clock=lambda: now[0])
    for passing, quiet in [(1.0, 0.0), (5.0, 5.0), (1.0, 0.0), (3.0, 3.0)]:  # time before a take, quiet after
        now[0] += passing
        reader.take()
        assert reader.quiet_for() == quiet
    reader.still()  # nothing expected (no partition held): quiet time starts over
    assert reader.quiet_for() == 0.0


def test_a_stall_counts_only_while_a_range_is_unfinished() -> None:
    now = [0.0]

    def clock() -> float:
        now[0] += 1.0
        return now[0]

    # partition 0 ends at once; partition 1 never comes: the read stalls however long 0 has been finished
    double = ConsumerDouble([[record(0, 0), end_of_partition(0, 1)]])
    reader = KafkaReader(cast("Consumer", double), "reading t", clock=clock)
    read = reader.range("t", [Span(0, 0, 1), Span(1, 0, 1)], stall_s=5.0)
    assert next(read).advanced == {0: 1}
    with pytest.raises(RetryableError, match="stalled"):
        next(read)


def test_a_range_ending_in_control_records_only_ends_at_end_of_partition() -> None:
    # offsets 1..3 are a transaction's records aborted and its marker: nothing arrives after offset 0
    double = ConsumerDouble([[record(0, 0)], [], [], [end_of_partition(0, 4)]])
    reader = KafkaReader(cast("Consumer", double), "reading t")
    batches = list(reader.range("t", [Span(0, 0, 4)]))
    assert [b.offsets for b in batches] == [[0], []]
    assert batches[-1].advanced == {0: 4}


def test_a_second_range_on_the_same_reader_resumes_what_the_first_paused() -> None:
    double = ConsumerDouble([[record(0, 0)], [record(0, 1)]])
    reader = KafkaReader(cast("Consumer", double), "reading t")
    assert [b.offsets for b in reader.range("t", [Span(0, 0, 1)])] == [[0]]
    assert double.paused == [0]
    assert [b.offsets for b in reader.range("t", [Span(0, 1, 2)])] == [[1]]
    assert double.resumed == [0]
    assert double.assigned == [(0, 0), (0, 1)]
