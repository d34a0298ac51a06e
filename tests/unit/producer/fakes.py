"""A stand-in for confluent-kafka's Producer: records what is produced, delivers on poll/flush as told."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, Message

Delivery = Callable[[KafkaError | None, Message], None]


class FakeProducer:
    def __init__(self, fail_with: KafkaError | None = None, full_times: int = 0, deliver: bool = True) -> None:
        self.fail_with = fail_with
        self.full_times = full_times  # raise BufferError this many times first, like a full local queue
        self.deliver = deliver  # False: messages stay queued (flush times out)
        self.produced: list[dict[str, Any]] = []
        self._pending: list[tuple[Delivery, Message]] = []
        self.polls = 0

    def produce(self, topic: str, value: bytes, key: bytes | None, headers: Any, on_delivery: Delivery) -> None:
        if self.full_times:
            self.full_times -= 1
            raise BufferError("queue full")
        self.produced.append({"topic": topic, "value": value, "key": key, "headers": list(headers)})
        self._pending.append((on_delivery, Message(topic=topic, key=key, value=value)))

    def poll(self, timeout: float = 0) -> int:
        self.polls += 1
        return self._serve()

    def flush(self, timeout: float = 0) -> int:
        self._serve()
        return len(self._pending)

    def _serve(self) -> int:
        if not self.deliver:
            return 0
        served, self._pending = self._pending, []
        for callback, message in served:
            callback(self.fail_with, message)
        return len(served)
