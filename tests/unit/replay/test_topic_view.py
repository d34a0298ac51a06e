"""The timestamp peek of ``KafkaTopicView``: one record per partition, and a found partition stops being read."""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import TopicPartition

from scorers.replay.reader import KafkaTopicView


@dataclass
class Record:
    _partition: int
    _offset: int

    def error(self) -> None:
        return None

    def partition(self) -> int:
        return self._partition

    def timestamp(self) -> tuple[int, int]:
        return 1, 1_000 * self._partition + self._offset


class Prefetching:
    """librdkafka as the peek sees it: every assigned partition keeps delivering its next records, in turn; a
    partition named ``slow`` delivers nothing during the first ``slow_polls`` polls (a leader moving)."""

    def __init__(self, slow: int, slow_polls: int) -> None:
        self.assigned: dict[int, int] = {}
        self.delivered = 0
        self._slow, self._slow_polls, self._polls = slow, slow_polls, 0

    def incremental_assign(self, partitions: list[TopicPartition]) -> None:
        self.assigned |= {tp.partition: tp.offset for tp in partitions}

    assign = incremental_assign

    def incremental_unassign(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            del self.assigned[tp.partition]

    def unassign(self) -> None:
        self.assigned.clear()

    def consume(self, num_messages: int, timeout: float) -> list[Record]:
        self._polls += 1
        ready = [p for p in self.assigned if p != self._slow or self._polls > self._slow_polls]
        batch: list[Record] = []
        while ready and len(batch) < num_messages:
            for p in ready[: num_messages - len(batch)]:
                batch.append(Record(p, self.assigned[p]))
                self.assigned[p] += 1
        self.delivered += len(batch)
        return batch


def view_over(consumer: Prefetching) -> KafkaTopicView:
    view = KafkaTopicView.__new__(KafkaTopicView)
    view.topic, view._timeout, view._consumer = "t.events", 10.0, consumer  # type: ignore[assignment]
    return view


def test_each_partition_gives_the_timestamp_of_its_first_record_at_the_offset() -> None:
    consumer = Prefetching(slow=-1, slow_polls=0)
    assert view_over(consumer).timestamps({0: 5, 1: 7, 2: 0}) == {0: 5, 1: 1_007, 2: 2_000}
    assert consumer.assigned == {}


def test_partitions_found_are_not_drained_while_a_slow_one_is_awaited() -> None:
    consumer = Prefetching(slow=2, slow_polls=50)
    assert view_over(consumer).timestamps({0: 5, 1: 7, 2: 0}) == {0: 5, 1: 1_007, 2: 2_000}
    # Two polls deliver, a batch of at most 3 each. Before: partitions 0 and 1 kept delivering during the 50 polls
    # partition 2 was silent (153 records read).
    assert consumer.delivered <= 6
