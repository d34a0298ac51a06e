"""While a batch in hand is retried, the consumer polls with its partitions paused (the group keeps it past
max.poll.interval.ms), takes nothing new, resumes once the batch is written, and a partition revoked meanwhile
goes at once and gets no commit from that batch."""

from __future__ import annotations

import threading

import pytest
from confluent_kafka import Message

import scorecast.batch_consumer
from scorecast.batch_consumer import BatchConsumer, ConsumerConfig, Deliver
from scorecast.errors import RetryableError
from scorecast.settings import Settings
from tests.unit.pipeline.consumer_double import TOPIC, ConsumerDouble, batch


def outage(monkeypatch: pytest.MonkeyPatch) -> tuple[BatchConsumer, ConsumerDouble, list[int]]:
    """A consumer of two scripted batches, and the sizes of the batches it takes."""
    monkeypatch.setattr(scorecast.batch_consumer, "Consumer", ConsumerDouble)
    monkeypatch.setattr(scorecast.batch_consumer, "HOLD_AFTER_S", 0.0)  # hold from the first retry
    ConsumerDouble.script = [lambda _: batch((0, 0), (0, 1), (1, 0)), lambda _: batch((0, 2))]
    consumer = BatchConsumer(Settings(topic_prefix="unit."), ConsumerConfig(group="unit", topics=(TOPIC,)))
    double: ConsumerDouble = consumer._consumer  # type: ignore[assignment]
    return consumer, double, []


def run(consumer: BatchConsumer, double: ConsumerDouble, taken: list[int], failures: int) -> None:
    tries = 0

    def handle(messages: list[Message]) -> Deliver:
        taken.append(len(messages))

        def deliver() -> None:
            nonlocal tries
            tries += 1
            if tries <= failures:
                raise RetryableError("Cassandra unreachable")

        return deliver

    consumer.run(handle, double.stop)


def test_a_retried_batch_polls_paused_takes_nothing_new_and_resumes_once_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    consumer, double, taken = outage(monkeypatch)
    seen_while_paused: list[int] = []
    double.on_paused_poll = lambda d: seen_while_paused.append(len(taken))
    run(consumer, double, taken, failures=3)
    assert double.paused_polls > 0
    assert set(seen_while_paused) == {1}  # the second batch was taken only after the first was written
    assert taken == [3, 1]
    assert double.paused == set()
    assert double.committed == {0: 3, 1: 1}


def test_a_partition_revoked_while_a_batch_is_retried_goes_at_once_and_gets_no_commit_from_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    consumer, double, taken = outage(monkeypatch)
    revoked = threading.Event()

    def revoke_once(d: ConsumerDouble) -> None:
        if not revoked.is_set():
            revoked.set()
            d.revoke(1)

    double.on_paused_poll = revoke_once
    run(consumer, double, taken, failures=3)
    assert revoked.is_set()
    assert double.committed_at_revoke == {}  # the batch in hand was not written yet when partition 1 moved
    assert double.committed == {0: 3}  # and partition 1's record in it is left to its next owner


@pytest.mark.parametrize("failures", [0, 2])
def test_a_write_that_works_at_once_or_soon_never_pauses(monkeypatch: pytest.MonkeyPatch, failures: int) -> None:
    """Retries for less than HOLD_AFTER_S (a shadow joiner's champion a moment behind) keep the prefetch."""
    consumer, double, taken = outage(monkeypatch)
    monkeypatch.setattr(scorecast.batch_consumer, "HOLD_AFTER_S", 1.0)
    run(consumer, double, taken, failures=failures)
    assert double.paused_polls == 0
    assert double.committed == {0: 3, 1: 1}
