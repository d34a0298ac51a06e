"""Delivered offsets a consumer still has to get acknowledged by the group coordinator.

A commit the broker refuses (a rebalance in progress, a stale generation) is not lost: the offsets stay
pending until a later commit is acknowledged, and a partition being revoked has its pending offset committed
before it moves. Without this, every rebalance dropped the commits in flight and the next owner redid them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from confluent_kafka import Message, TopicPartition

Key = tuple[str, int]


class DeliveredOffsets:
    def __init__(self) -> None:
        self._delivered: dict[Key, int] = {}  # next offset to consume, per partition, once delivered
        self._committed: dict[Key, int] = {}  # as acknowledged by the coordinator

    def delivered(self, messages: Sequence[Message]) -> None:
        for m in messages:
            key = (m.topic() or "", m.partition() or 0)
            self._delivered[key] = max(self._delivered.get(key, 0), (m.offset() or 0) + 1)

    def committed(self, partitions: Iterable[TopicPartition]) -> None:
        for tp in partitions:
            key = (tp.topic, tp.partition)
            if tp.offset >= 0:
                self._committed[key] = max(self._committed.get(key, -1), tp.offset)

    def pending(self, partitions: Iterable[TopicPartition] | None = None) -> list[TopicPartition]:
        """Delivered but unacknowledged offsets, of ``partitions`` only if given."""
        keys = self._delivered if partitions is None else [(tp.topic, tp.partition) for tp in partitions]
        return [
            TopicPartition(topic, partition, self._delivered[(topic, partition)])
            for topic, partition in keys
            if (topic, partition) in self._delivered
            and self._delivered[(topic, partition)] > self._committed.get((topic, partition), -1)
        ]

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        """The partitions moved away: a later owner tracks them from its own start."""
        for tp in partitions:
            self._delivered.pop((tp.topic, tp.partition), None)
            self._committed.pop((tp.topic, tp.partition), None)
