"""take_batch: what is queued comes at once; only an empty queue waits (a double stands in for librdkafka)."""

from __future__ import annotations

from typing import Any, cast

from confluent_kafka import Consumer

from scorecast.io.read_policy import take_batch


class QueueDouble:
    """consume(n, timeout) as librdkafka does it: up to n queued messages, else what arrives within timeout."""

    def __init__(self, queued: list[str], arriving: list[str]) -> None:
        self.queued = queued
        self.arriving = arriving
        self.calls: list[tuple[int, float]] = []

    def consume(self, num_messages: int, timeout: float) -> list[str]:
        self.calls.append((num_messages, timeout))
        source = self.queued if self.queued or timeout == 0 else self.arriving
        taken, source[:] = source[:num_messages], source[num_messages:]
        return taken


def take(double: QueueDouble, most: int, wait_s: float) -> list[Any]:
    return take_batch(cast("Consumer", double), most, wait_s)


def test_a_short_queue_is_taken_without_waiting() -> None:
    double = QueueDouble(queued=["a", "b", "c"], arriving=["d"])
    assert take(double, 2000, 0.01) == ["a", "b", "c"]
    assert double.calls == [(2000, 0)]


def test_a_full_batch_leaves_the_rest_queued() -> None:
    double = QueueDouble(queued=["a", "b", "c"], arriving=[])
    assert take(double, 2, 0.01) == ["a", "b"]
    assert double.queued == ["c"]


def test_only_an_empty_queue_waits() -> None:
    double = QueueDouble(queued=[], arriving=["d", "e"])
    assert take(double, 2000, 0.01) == ["d", "e"]
    assert double.calls == [(2000, 0), (2000, 0.01)]
