"""A stand-in for librdkafka's consumer under BatchConsumer: scripted batches, commits answered through
``on_commit`` at the next consume (as librdkafka does) and refused while told to (as the coordinator does
during a rebalance), ``on_revoke`` called from inside ``consume``, client errors through ``error_cb``."""

from __future__ import annotations

import threading
import time
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
        self.error_cb = config["error_cb"]
        self.refusing = False
        self.committed: dict[int, int] = {}  # the coordinator's view: partition -> next offset
        self.replies: list[tuple[KafkaError | None, list[TopicPartition]]] = []
        self.held = [TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)]
        self.on_revoke: Callable[[Any, list[TopicPartition]], None] | None = None
        self.stop = threading.Event()
        self.committed_at_revoke: dict[int, int] = {}
        self.paused: set[int] = set()
        self.paused_polls = 0
        self.on_paused_poll: Callable[[ConsumerDouble], None] | None = None  # a group event during a paused poll

    def subscribe(self, topics: list[str], on_assign: Any = None, on_revoke: Any = None, on_lost: Any = None) -> None:
        self.on_revoke = on_revoke
        on_assign(self, self.held)

    def consume(self, num_messages: int, timeout: float) -> list[Message]:
        replies, self.replies = self.replies, []
        for error, offsets in replies:
            self.on_commit(error, offsets)
        if self.held and self.paused >= {tp.partition for tp in self.held}:
            self.paused_polls += 1  # nothing to fetch: a poll that only serves events
            if self.on_paused_poll is not None:
                self.on_paused_poll(self)
            time.sleep(min(timeout, 0.01))
            return []
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

    def pause(self, partitions: list[TopicPartition]) -> None:
        self.paused |= {tp.partition for tp in partitions}

    def resume(self, partitions: list[TopicPartition]) -> None:
        self.paused -= {tp.partition for tp in partitions}

    def assignment(self) -> list[TopicPartition]:
        return self.held

    def get_watermark_offsets(self, tp: TopicPartition, cached: bool = False) -> tuple[int, int]:
        return 0, 100

    def close(self) -> None:
        pass


def batch(*offsets: tuple[int, int]) -> list[Message]:
    return [Message(topic=TOPIC, partition=p, offset=o, value=b"x") for p, o in offsets]


def run(monkeypatch: pytest.MonkeyPatch, script: list[Step]) -> ConsumerDouble:
    monkeypatch.setattr(scorecast.batch_consumer, "Consumer", ConsumerDouble)
    ConsumerDouble.script = script
    consumer = BatchConsumer(Settings(topic_prefix="unit."), ConsumerConfig(group="unit", topics=(TOPIC,)))

    def handle(messages: list[Message]) -> Deliver:
        return lambda: None

    double: ConsumerDouble = consumer._consumer  # type: ignore[assignment]
    consumer.run(handle, double.stop)
    return double
