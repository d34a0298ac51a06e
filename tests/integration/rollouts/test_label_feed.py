"""The rollout controller's label feed on real Kafka: each poll hands out only the labels that arrived since
the previous one (a tick's cost does not grow with the topic), every partition reported caught up."""

from __future__ import annotations

import time

from schemas.synthetic import label_record
from scorecast.settings import Settings
from scorers.rollouts.observe import LabelFeed
from tests.integration.streams.conftest import STREAM, produce


def labels(start: int, stop: int, at_ms: int) -> list[dict[str, object]]:
    return [label_record(f"e{i}", i % 2, at_ms + i, f"card-{i % 7}") for i in range(start, stop)]


def test_each_poll_hands_out_only_what_arrived_since_the_previous_one(settings: Settings) -> None:
    now_ms = int(time.time() * 1000)
    produce(settings, "labels", labels(0, 5, now_ms - 3_600_000))  # before the rollout started
    started_ms = int(time.time() * 1000)
    produce(settings, "labels", labels(5, 300, now_ms))
    feed = LabelFeed(settings, STREAM, since_ms=started_ms)
    try:
        first = feed.poll()
        assert sorted(first.event_ids, key=lambda e: int(e[1:])) == [f"e{i}" for i in range(5, 300)]
        assert sorted(set(first.caught_up)) == feed.partitions
        assert first.labels[first.event_ids.index("e7")] == 1
        assert feed.poll().event_ids == []  # nothing new: nothing read again
        produce(settings, "labels", labels(300, 320, now_ms))
        assert sorted(feed.poll().event_ids, key=lambda e: int(e[1:])) == [f"e{i}" for i in range(300, 320)]
    finally:
        feed.close()
