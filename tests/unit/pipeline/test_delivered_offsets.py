"""Delivered offsets stay pending until the coordinator acknowledges them; revoked ones are handed over."""

from __future__ import annotations

from confluent_kafka import Message, TopicPartition

from scorecast.offsets import DeliveredOffsets


def _delivered(offsets: DeliveredOffsets, partition: int, *numbers: int) -> None:
    offsets.delivered([Message(topic="t", partition=partition, offset=n) for n in numbers])


def _pending(offsets: DeliveredOffsets, partitions: list[TopicPartition] | None = None) -> set[tuple[int, int]]:
    return {(tp.partition, tp.offset) for tp in offsets.pending(partitions)}


def test_the_next_offset_after_the_last_delivered_message_is_pending() -> None:
    offsets = DeliveredOffsets()
    _delivered(offsets, 0, 5, 6, 9)
    _delivered(offsets, 1, 2)
    assert _pending(offsets) == {(0, 10), (1, 3)}


def test_a_refused_commit_stays_pending_and_an_acknowledged_one_does_not() -> None:
    offsets = DeliveredOffsets()
    _delivered(offsets, 0, 9)
    _delivered(offsets, 1, 2)
    # the commit of both was refused (a rebalance): nothing acknowledged, both still pending
    assert _pending(offsets) == {(0, 10), (1, 3)}
    offsets.committed([TopicPartition("t", 0, 10)])
    assert _pending(offsets) == {(1, 3)}
    _delivered(offsets, 0, 10, 11)
    assert _pending(offsets) == {(0, 12), (1, 3)}
    offsets.committed([TopicPartition("t", 0, 10)])  # a late acknowledgement of an older commit
    assert _pending(offsets) == {(0, 12), (1, 3)}


def test_revoked_partitions_are_picked_then_forgotten() -> None:
    offsets = DeliveredOffsets()
    _delivered(offsets, 0, 9)
    _delivered(offsets, 1, 2)
    revoked = [TopicPartition("t", 1), TopicPartition("t", 4)]
    assert _pending(offsets, revoked) == {(1, 3)}
    offsets.forget(revoked)
    assert _pending(offsets) == {(0, 10)}
