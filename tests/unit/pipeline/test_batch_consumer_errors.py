"""BatchConsumer's delivery by error class: retry what is retryable, bisect out what is permanent, stop on config.

A delivery double stands in for the sinks; the consumer's Kafka client is built but never used here.
"""

from __future__ import annotations

import logging
import threading

import pytest
from confluent_kafka import KafkaError, Message

from scorecast.batch_consumer import BatchConsumer, ConsumerConfig, Deliver, RetryLog
from scorecast.errors import ConfigError, PermanentError, RetryableError
from scorecast.settings import Settings
from tests.unit.pipeline.consumer_double import ConsumerDouble, batch, run


class SinkDouble:
    """Refuses any batch holding a poison value (permanently), and fails the first ``outages`` tries."""

    def __init__(self, poison: set[bytes], outages: int = 0) -> None:
        self.poison = poison
        self.outages = outages
        self.delivered: list[bytes] = []
        self.handled = 0

    def handle(self, messages: list[Message]) -> Deliver:
        self.handled += 1
        values = [m.value() or b"" for m in messages]

        def deliver() -> None:
            if self.outages:
                self.outages -= 1
                raise RetryableError("Cassandra unreachable")
            bad = self.poison.intersection(values)
            if bad:
                raise PermanentError(f"refused {sorted(bad)}")
            self.delivered += values

        return deliver


def _consumer(rejected: list[tuple[Message, PermanentError]]) -> BatchConsumer:
    config = ConsumerConfig(group="unit", topics=("unit.events",), retry_backoff_max_s=0.01)
    return BatchConsumer(Settings(topic_prefix="unit."), config, on_rejected=lambda m, e: rejected.append((m, e)))


def _messages(n: int) -> list[Message]:
    return [Message(topic="unit.events", partition=0, offset=i, value=b"%d" % i) for i in range(n)]


def settle(consumer: BatchConsumer, sink: SinkDouble, messages: list[Message]) -> None:
    consumer._settle(sink.handle, messages, sink.handle(messages), threading.Event())


def test_a_poison_record_is_bisected_out_and_every_other_record_is_delivered() -> None:
    rejected: list[tuple[Message, PermanentError]] = []
    consumer = _consumer(rejected)
    sink = SinkDouble(poison={b"37", b"38", b"400"})
    settle(consumer, sink, _messages(500))
    assert sorted(sink.delivered, key=int) == [b"%d" % i for i in range(500) if i not in (37, 38, 400)]
    assert sorted(m.offset() or 0 for m, _ in rejected) == [37, 38, 400]
    assert "refused" in str(rejected[0][1])
    assert consumer.stats.rejected == 3
    assert sink.handled < 60  # bisection: about 2·log2(500) handles per bad record, not one per record


def test_a_retryable_failure_is_retried_until_it_works_and_nothing_is_rejected() -> None:
    rejected: list[tuple[Message, PermanentError]] = []
    consumer = _consumer(rejected)
    sink = SinkDouble(poison=set(), outages=5)
    settle(consumer, sink, _messages(10))
    assert len(sink.delivered) == 10
    assert consumer.stats.retries == 5
    assert rejected == []


def test_a_config_error_stops_the_consumer() -> None:
    consumer = _consumer([])

    def deliver() -> None:
        raise ConfigError("topic authorization failed")

    with pytest.raises(ConfigError):
        consumer._settle(lambda _: deliver, _messages(3), deliver, threading.Event())


def test_a_stop_during_retries_raises_instead_of_committing() -> None:
    consumer = _consumer([])
    stop = threading.Event()
    stop.set()
    sink = SinkDouble(poison=set(), outages=1_000)
    with pytest.raises(RetryableError):
        consumer._settle(sink.handle, _messages(3), sink.handle(_messages(3)), stop)
    assert sink.delivered == []


def test_the_retry_log_says_down_once_and_back_once(caplog: pytest.LogCaptureFixture) -> None:
    log = RetryLog("delivery", clock=iter([0.0, 12.5]).__next__)
    with caplog.at_level(logging.WARNING, logger="scorecast.batch_consumer"):
        for _ in range(50):
            log.failed(RetryableError("Cassandra unreachable"))
        log.succeeded()
        log.succeeded()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert "delivery failing" in lines[0]
    assert "Cassandra unreachable" in lines[0]
    assert lines[1] == "delivery works again after 12.5s and 50 retries"


@pytest.mark.parametrize("reported_by", ["message", "error_cb"])
def test_a_fatal_consumer_error_ends_the_consumer_instead_of_idling(
    monkeypatch: pytest.MonkeyPatch, reported_by: str
) -> None:
    fenced = KafkaError(KafkaError._FATAL, "Static consumer fenced by other consumer", fatal=True)

    def fenced_on_rejoin(double: ConsumerDouble) -> list[Message]:
        if reported_by == "error_cb":
            double.error_cb(fenced)
            return []
        return [Message(error=fenced)]

    with pytest.raises(ConfigError, match="fenced"):
        run(monkeypatch, [lambda _: batch((0, 0)), fenced_on_rejoin, *[lambda _: []] * 1000])
