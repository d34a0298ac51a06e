"""Per-partition watermarks, idleness, and the alignment that pauses partitions running ahead."""

from __future__ import annotations

import numpy as np
from confluent_kafka import TopicPartition

from streams.kafka import Alignment
from streams.windows import Watermark, WindowSpec

SPEC = WindowSpec.tumbling(1_000, lateness_ms=100)


def test_the_watermark_follows_the_slowest_partition() -> None:
    mark = Watermark(SPEC)
    mark.expect([0, 1])
    mark.advance(np.array([5_000, 9_000]), np.array([0, 0]))
    assert mark.value_ms is None  # partition 1 has not spoken: a fast partition 0 must not close windows
    mark.advance(np.array([2_000]), np.array([1]))
    assert mark.value_ms == 1_900
    mark.advance(np.array([1_000]), np.array([1]))  # older than its latest: nothing moves back
    assert mark.value_ms == 1_900
    mark.advance(np.array([4_000]), np.array([1]))
    assert mark.value_ms == 3_900
    assert mark.closed_through() == 2  # windows 0, 1, 2 end at or before 3,900


def test_a_caught_up_partition_stops_holding_the_watermark_back_until_it_speaks_again() -> None:
    mark = Watermark(SPEC)
    mark.expect([0, 1, 2])
    mark.mark_idle(2)  # an empty partition
    mark.advance(np.array([3_000, 8_000]), np.array([0, 1]))
    assert mark.value_ms == 2_900
    mark.mark_idle(0)
    assert mark.value_ms == 7_900
    mark.advance(np.array([3_500]), np.array([0]))  # speaks again: active, but the watermark never retreats
    assert mark.value_ms == 7_900
    mark.mark_idle(0)
    mark.mark_idle(1)
    assert mark.value_ms == 7_900  # all caught up: the newest time minus the lateness


class FakeConsumer:
    def __init__(self) -> None:
        self.paused: set[tuple[str, int]] = set()

    def pause(self, partitions: list[TopicPartition]) -> None:
        self.paused |= {(p.topic, p.partition) for p in partitions}

    def resume(self, partitions: list[TopicPartition]) -> None:
        self.paused -= {(p.topic, p.partition) for p in partitions}


def test_alignment_pauses_a_partition_running_ahead_and_resumes_it_when_the_others_catch_up() -> None:
    client = FakeConsumer()
    align = Alignment(client, max_skew_ms=1_000)  # type: ignore[arg-type]
    align.update("t", {0: 10_000, 1: 12_500, 2: 10_400}, idle=set())
    assert client.paused == {("t", 1)}
    align.update("t", {0: 11_600, 1: 12_500, 2: 11_700}, idle=set())
    assert client.paused == set()
    align.update("t", {0: 11_600, 1: 20_000, 2: 11_700}, idle={0, 2})  # the slow ones are caught up: no pause
    assert client.paused == set()
