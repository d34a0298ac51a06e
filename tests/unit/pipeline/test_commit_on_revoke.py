"""What a rebalance does to commits: a refused commit is sent again, and revoked partitions are committed first.

A double stands in for librdkafka's consumer: it serves scripted batches, answers asynchronous commits through
the ``on_commit`` callback at the next consume (as librdkafka does), refuses them while told to (as the
coordinator does during a rebalance), and calls ``on_revoke`` from inside ``consume``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, ClassVar

import pytest
from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition

import scorecast.batch_consumer
from scorecast.batch_consumer import BatchConsumer, ConsumerConfig, Deliver
from scorecast.settings import Settings

TOPIC = "unit.events"
Step = Callable[["ConsumerDouble"], list[Message]]


class ConsumerDouble:
    script: ClassVar[list[Step]] = []

    def __init__(self, config: dict[str, Any]) -> None:
        self.on_commit = config["on_commit"]
        self.refusing = False
        self.committed: dict[int, int] = {}  # the coordinator's view: partition -> next offset
        self.replies: list[tuple[KafkaError | None, list[TopicPartition]]] = []
        self.held = [TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)]
        self.on_revoke: Callable[[Any, list[TopicPartition]], None] | None = None
        self.stop = threading.Event()
        self.committed_at_revoke: dict[int, int] = {}

    def subscribe(self, topics: list[str], on_assign: Any = None, on_revoke: Any = None, on_lost: Any = None) -> None:
        self.on_revoke = on_revoke
        on_assign(self, self.held)

    def consume(self, num_messages: int, timeout: float) -> list[Message]:
        replies, self.replies = self.replies, []
        for error, offsets in replies:
            self.on_commit(error, offsets)
        if not self.script:
            self.stop.set()
            return []
        return self.script.pop(0)(self)

    def commit(self, offsets: list[TopicPartition], asynchronous: bool = True) -> list[TopicPartition] | None:
        if self.refusing:
            error = KafkaError(KafkaError.REBALANCE_IN_PROGRESS)
            if not asynchronous:
                raise KafkaException(error)
            self.replies.append((error, offsets))
            return None
        for tp in offsets:
            self.committed[tp.partition] = tp.offset
        if asynchronous:
            self.replies.append((None, offsets))
            return None
        return offsets

    def revoke(self, partition: int) -> None:
        revoked = [tp for tp in self.held if tp.partition == partition]
        self.held = [tp for tp in self.held if tp.partition != partition]
        self.refusing = False  # the coordinator takes commits again once members have rejoined
        assert self.on_revoke is not None
        self.on_revoke(self, revoked)
        self.committed_at_revoke = dict(self.committed)  # what the partition's next owner would start from

    def assignment(self) -> list[TopicPartition]:
        return self.held

    def get_watermark_offsets(self, tp: TopicPartition, cached: bool = False) -> tuple[int, int]:
        return 0, 100

    def close(self) -> None:
        pass


def _batch(*offsets: tuple[int, int]) -> list[Message]:
    return [Message(topic=TOPIC, partition=p, offset=o, value=b"x") for p, o in offsets]


def _run(monkeypatch: pytest.MonkeyPatch, script: list[Step]) -> ConsumerDouble:
    monkeypatch.setattr(scorecast.batch_consumer, "Consumer", ConsumerDouble)
    ConsumerDouble.script = script
    consumer = BatchConsumer(Settings(topic_prefix="unit."), ConsumerConfig(group="unit", topics=(TOPIC,)))

    def handle(messages: list[Message]) -> Deliver:
        return lambda: None

    double: ConsumerDouble = consumer._consumer  # type: ignore[assignment]
    consumer.run(handle, double.stop)
    return double


def test_partitions_revoked_after_a_refused_commit_are_committed_before_they_move(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def rebalance_starts(double: ConsumerDouble) -> list[Message]:
        double.refusing = True  # the coordinator is rebalancing: the batch's commit will be refused
        return _batch((0, 0), (0, 1), (0, 2), (1, 0))

    def partition_0_moves(double: ConsumerDouble) -> list[Message]:
        double.revoke(0)
        return []

    double = _run(monkeypatch, [rebalance_starts, partition_0_moves])
    # Its next owner starts after the delivered messages instead of redoing them.
    assert double.committed_at_revoke.get(0) == 3


def test_a_refused_commit_is_sent_again_with_the_next_one(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(double: ConsumerDouble) -> list[Message]:
        double.refusing = True
        return _batch((0, 0), (1, 0), (1, 1))

    def accepted(double: ConsumerDouble) -> list[Message]:
        double.refusing = False
        return _batch((0, 1))  # nothing new on partition 1

    double = _run(monkeypatch, [refused, accepted])
    assert double.committed == {0: 2, 1: 2}
