"""Test doubles of the Kafka clients, shipped with the I/O layer so every unit test uses the same ones.

``ProducerDouble`` stands in for confluent-kafka's Producer: it records what is produced and serves delivery
reports on ``poll``/``flush`` as told (success, an error, nothing), raises ``BufferError`` like a full local
queue, and, while ``reachable`` is False, reports "all brokers down" through the config's ``error_cb`` and
fails metadata requests, as librdkafka does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition

Delivery = Callable[[KafkaError | None, Message], None]


class ProducerDouble:
    def __init__(
        self,
        config: dict[str, Any] | None = None,
        *,
        fail_with: KafkaError | None = None,
        full_times: int = 0,
        deliver: bool = True,
        reachable: bool = True,
    ) -> None:
        self.config = config or {}
        self.fail_with = fail_with
        self.full_times = full_times  # raise BufferError this many times first, like a full local queue
        self.deliver = deliver  # False: messages stay queued (flush times out)
        self.reachable = reachable
        self.produced: list[dict[str, Any]] = []
        self.polls = 0
        self._pending: list[tuple[Delivery | None, Message]] = []

    def produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        *,
        headers: Any = None,
        timestamp: int = 0,
        on_delivery: Delivery | None = None,
    ) -> None:
        if self.full_times:
            self.full_times -= 1
            raise BufferError("Local: Queue full")
        self.produced.append(
            {"topic": topic, "value": value, "key": key, "headers": list(headers or []), "timestamp": timestamp}
        )
        self._pending.append((on_delivery, Message(topic=topic, key=key, value=value)))

    def poll(self, timeout: float = 0) -> int:
        self.polls += 1
        return self._serve()

    def flush(self, timeout: float = 0) -> int:
        self._serve()
        return len(self._pending)

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> dict[str, Any]:
        if not self.reachable:
            self._report_down()
            raise KafkaException(
                KafkaError(KafkaError._TRANSPORT, "Failed to get metadata: Local: Broker transport failure")
            )
        return {}

    def _serve(self) -> int:
        if not self.reachable:
            self._report_down()
            return 0
        if not self.deliver:
            return 0
        served, self._pending = self._pending, []
        for callback, message in served:
            if callback is not None:
                callback(self.fail_with, message)
        return len(served)

    def _report_down(self) -> None:
        error_cb = self.config.get("error_cb")
        if error_cb is not None:
            error_cb(KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down"))


class ConsumerDouble:
    """Stands in for confluent-kafka's Consumer in a bounded read: ``consume`` hands out the scripted batches
    in order (an empty list is a wait with nothing queued), then nothing; assignments, pauses and resumes are
    kept."""

    def __init__(self, batches: list[list[Message]]) -> None:
        self.batches = list(batches)
        self.assigned: list[tuple[int, int]] = []
        self.paused: list[int] = []
        self.resumed: list[int] = []
        self.consumes = 0

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.assigned += [(tp.partition, tp.offset) for tp in partitions]

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Message]:
        self.consumes += 1
        if not self.batches:
            return []
        if timeout == 0 and not self.batches[0]:  # a look at an empty queue; the wait that follows takes it
            return []
        return self.batches.pop(0)

    def pause(self, partitions: list[TopicPartition]) -> None:
        self.paused += [tp.partition for tp in partitions]

    def resume(self, partitions: list[TopicPartition]) -> None:
        self.resumed += [tp.partition for tp in partitions]


def record(partition: int, offset: int, value: bytes = b"v", topic: str = "t") -> Message:
    return Message(topic=topic, partition=partition, offset=offset, value=value)


def end_of_partition(partition: int, offset: int, topic: str = "t") -> Message:
    """librdkafka's end-of-partition event: no record, the next offset to read."""
    return Message(topic=topic, partition=partition, offset=offset, error=KafkaError(KafkaError._PARTITION_EOF))
