"""Overlapped delivery (``ConsumerConfig.overlap``): the next batch is handled while the previous one is written,
yet offsets are committed only once their batch is acknowledged, in batch order; a refused batch is bisected on
the caller's thread; a stop or a revoke waits for the batch being written.

The consumer double (consumer_double.py) runs on this thread; ``deliver`` runs on the delivery thread."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from confluent_kafka import Message, TopicPartition

import scorecast.batch_consumer
from scorecast.batch_consumer import BatchConsumer, ConsumerConfig, Deliver
from scorecast.errors import PermanentError, RetryableError
from scorecast.settings import Settings
from tests.unit.pipeline.consumer_double import TOPIC, ConsumerDouble, Step, batch

GENEROUS_S = 3.0  # a wait that only a broken implementation runs into


class LoggingDouble(ConsumerDouble):
    """Also keeps every acknowledged commit, in order."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.commits: list[dict[int, int]] = []

    def commit(self, offsets: list[TopicPartition], asynchronous: bool = True) -> list[TopicPartition] | None:
        answer = super().commit(offsets, asynchronous)
        if not self.refusing:
            self.commits.append({tp.partition: tp.offset for tp in offsets})
        return answer


def consumer(monkeypatch: pytest.MonkeyPatch, script: list[Step]) -> tuple[BatchConsumer, LoggingDouble]:
    monkeypatch.setattr(scorecast.batch_consumer, "Consumer", LoggingDouble)
    ConsumerDouble.script = script
    config = ConsumerConfig(group="unit", topics=(TOPIC,), overlap=True, retry_backoff_max_s=0.05)
    made = BatchConsumer(Settings(topic_prefix="unit."), config)
    double: LoggingDouble = made._consumer  # type: ignore[assignment]
    return made, double


def steps(*batches: list[Message]) -> list[Step]:
    return [lambda _, b=b: b for b in batches]  # type: ignore[misc]


def test_the_next_batch_is_handled_while_the_previous_is_written_and_nothing_is_committed_before_its_ack(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made, double = consumer(monkeypatch, steps(batch((0, 0), (0, 1)), batch((0, 2))))
    writing, release = threading.Event(), threading.Event()
    committed_while_first_was_written: dict[int, int] | None = None

    def handle(messages: list[Message]) -> Deliver:
        nonlocal committed_while_first_was_written
        if messages[0].offset() == 0:

            def deliver() -> None:
                writing.set()
                release.wait(GENEROUS_S)  # acknowledged once the next batch was handled (serially: never)

            return deliver
        writing.wait(GENEROUS_S)  # the first batch is being written now
        committed_while_first_was_written = dict(double.committed)
        release.set()
        return lambda: None

    made.run(handle, double.stop)
    assert committed_while_first_was_written == {}  # overlapped, and nothing committed before the ack
    assert double.committed == {0: 3}
    assert made.stats.batches == 2


def test_a_failing_batch_after_a_written_one_commits_the_first_only(monkeypatch: pytest.MonkeyPatch) -> None:
    made, double = consumer(monkeypatch, steps(batch((0, 0), (0, 1)), batch((0, 2), (1, 0))))
    stop = threading.Event()
    tries = 0

    def handle(messages: list[Message]) -> Deliver:
        if messages[0].offset() == 0:
            return lambda: None

        def deliver() -> None:  # an outage that outlasts the worker
            nonlocal tries
            tries += 1
            if tries == 3:
                stop.set()
            raise RetryableError("Cassandra unreachable")

        return deliver

    with pytest.raises(RetryableError):
        made.run(handle, stop)
    assert tries >= 3
    assert double.committed == {0: 2}  # the second batch is read again after a restart


def test_commits_follow_batch_order_whatever_each_write_takes(monkeypatch: pytest.MonkeyPatch) -> None:
    batches = [batch(*((p, 10 * i + k) for p in (0, 1) for k in range(3))) for i in range(6)]
    made, double = consumer(monkeypatch, steps(*batches))
    acknowledged: list[int] = []  # first offsets of the batches whose writes returned
    at_commit: list[tuple[dict[int, int], list[int]]] = []
    commit = double.commit

    def logged_commit(offsets: list[TopicPartition], asynchronous: bool = True) -> list[TopicPartition] | None:
        at_commit.append(({tp.partition: tp.offset for tp in offsets}, list(acknowledged)))
        return commit(offsets, asynchronous)

    double.commit = logged_commit  # type: ignore[method-assign]

    def handle(messages: list[Message]) -> Deliver:
        first = messages[0].offset() or 0

        def deliver() -> None:
            threading.Event().wait(0.05 if first % 20 == 0 else 0.0)  # every other write is slow
            acknowledged.append(first)

        return deliver

    made.run(handle, double.stop)
    assert at_commit
    seen: dict[int, int] = {}
    for offsets, acked in at_commit:
        for partition, offset in offsets.items():
            assert offset >= seen.get(partition, 0)  # never backwards
            seen[partition] = offset
            assert all(first in acked for first in range(0, offset - 2, 10))  # only acknowledged batches
    assert double.committed == {0: 53, 1: 53}


def test_a_stop_while_a_batch_is_written_finishes_and_commits_the_batches_in_hand(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made, double = consumer(monkeypatch, steps(batch((0, 0), (0, 1)), batch((0, 2))))
    stop = threading.Event()
    writing = threading.Event()

    def handle(messages: list[Message]) -> Deliver:
        if messages[0].offset() == 0:

            def deliver() -> None:
                writing.set()
                stop.wait(GENEROUS_S)  # still being written when the stop comes

            return deliver
        writing.wait(GENEROUS_S)
        stop.set()  # SIGTERM while the first batch is in flight and the second only handled
        return lambda: None

    made.run(handle, stop)
    # Both are written and committed before the consumer leaves, as a serial consumer finishes its batch in hand.
    assert double.committed == {0: 3}
    assert made.stats.batches == 2


def test_a_revoke_waits_for_the_batch_being_written_and_commits_it_before_the_partition_moves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def partition_0_moves(double: ConsumerDouble) -> list[Message]:
        double.revoke(0)
        return []

    made, double = consumer(monkeypatch, [lambda _: batch((0, 0), (0, 1), (1, 0)), partition_0_moves])

    def handle(messages: list[Message]) -> Deliver:
        def deliver() -> None:
            threading.Event().wait(0.2)  # still being written when the revoke comes

        return deliver

    made.run(handle, double.stop)
    assert double.committed_at_revoke == {0: 2}  # the revoked partition's next owner starts after it
    assert double.committed == {0: 2, 1: 1}


def test_a_refused_batch_is_bisected_on_the_callers_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    made, double = consumer(monkeypatch, steps(batch((0, 0), (0, 1), (0, 2), (0, 3)), batch((0, 4))))
    rejected: list[int] = []
    made._on_rejected = lambda m, e: rejected.append(m.offset() or 0)
    handled_on: set[str] = set()

    def handle(messages: list[Message]) -> Deliver:
        handled_on.add(threading.current_thread().name)
        offsets = [m.offset() for m in messages]

        def deliver() -> None:
            if 2 in offsets:
                raise PermanentError("a row Cassandra refuses")

        return deliver

    made.run(handle, double.stop)
    assert rejected == [2]
    assert handled_on == {threading.current_thread().name}
    assert double.committed == {0: 5}


def test_the_last_batch_is_committed_as_soon_as_it_is_written_when_nothing_follows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    committed_when_idle: dict[int, int] = {}

    def caught_up(double: ConsumerDouble) -> list[Message]:
        return []  # no further batch: the idle loop settles the batch being written

    def look(double: ConsumerDouble) -> list[Message]:
        committed_when_idle.update(double.committed)
        return []

    # (an empty take asks consume twice: what is queued, then a short wait)
    made, double = consumer(monkeypatch, [*steps(batch((0, 0)), batch((0, 1))), caught_up, caught_up, look])

    def handle(messages: list[Message]) -> Deliver:
        return lambda: None

    made.run(handle, double.stop)
    # At once, not commit_retry_s after the previous batch's commit.
    assert committed_when_idle == {0: 2}
