"""Reading exactly a resolved range: ``assign()`` at explicit offsets, no consumer group, no commits.

The loop (ends, control records, prefetch past the end, stalls) is the I/O layer's ``read_range``; this module
adds the replay's consumer tuning and turns batches into the columns a scan wants.

Every consumer here has a fresh throwaway ``group.id`` (librdkafka wants one), auto-commit and the offset
store off, and never calls ``commit``; ``assign()`` joins no group. So a replay can neither move nor read
the committed offsets of a live consumer group. ``auto.offset.reset=error``: if retention deletes part of the
range while it is read, the replay fails loudly instead of silently skipping ahead.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from confluent_kafka import Consumer, TopicPartition

from scorecast.io.reader import RANGE_CONSUMER_CONFIG, Span, read_range
from scorecast.settings import Settings
from scorers.replay.errors import ReplayError
from scorers.replay.ranges import PartitionRange

STALL_S = 60.0  # no message and no end-of-partition for this long while a range is unfinished: give up
# A peek wants one record per partition: with the reading defaults it would prefetch megabytes of each.
PEEK = {"max.partition.fetch.bytes": 65536, "queued.min.messages": 1}


def replay_consumer(settings: Settings, tuning: dict[str, Any] | None = None) -> Consumer:
    return Consumer(
        {
            **settings.kafka_config(),
            "group.id": settings.group_id(f"scorecast.replay.{uuid.uuid4().hex}"),  # never joined nor committed to
            **RANGE_CONSUMER_CONFIG,  # no commits, no offset store, end-of-partition events, reset=error
            "queued.max.messages.kbytes": 65536,
            "fetch.max.bytes": 52428800,
            # Once the prefetch queue is full, librdkafka looks again only after this long (default 1 s): a
            # scan that drains the queue meanwhile would sit idle for the rest of it.
            "fetch.queue.backoff.ms": 20,
            **(tuning or {}),
        }
    )


@dataclass(frozen=True)
class RawBatch:
    values: list[bytes | None]
    partitions: np.ndarray  # int32, per value
    offsets: np.ndarray  # int64, per value
    advanced: dict[int, int]  # partition -> next offset to read after this batch (its end once finished)

    def __len__(self) -> int:
        return len(self.values)


class RangeReader:
    """Batches of one topic's messages in ``[start, end)`` of each partition, in offset order per partition."""

    def __init__(self, settings: Settings, topic: str, ranges: tuple[PartitionRange, ...], batch: int = 4000):
        self.topic = topic
        self._ranges = [r for r in ranges if r.events > 0]
        self._batch = batch
        self._settings = settings

    def __iter__(self) -> Iterator[RawBatch]:
        if not self._ranges:
            return
        consumer = replay_consumer(self._settings)
        try:
            yield from self._read(consumer)
        finally:
            consumer.close()

    def _read(self, consumer: Consumer) -> Iterator[RawBatch]:
        spans = [Span(r.partition, r.start, r.end) for r in self._ranges]
        for batch in read_range(consumer, self.topic, spans, batch=self._batch, stall_s=STALL_S):
            yield RawBatch(
                [m.value() for m in batch.messages],
                np.array(batch.partitions, dtype=np.int32),
                np.array(batch.offsets, dtype=np.int64),
                batch.advanced,
            )


class KafkaTopicView:
    """``ranges.TopicView`` over a live topic: watermarks, offsets_for_times and peeks at record timestamps."""

    def __init__(self, settings: Settings, topic: str, timeout_s: float = 10.0) -> None:
        self.topic = topic
        self._timeout = timeout_s
        self._consumer = replay_consumer(settings, PEEK)
        found = self._consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
        if found is None or found.error is not None or not found.partitions:
            self._consumer.close()
            raise ReplayError(f"topic {topic} does not exist (run `scorecast init`, or check --stream)")
        self._partitions = tuple(sorted(found.partitions))

    def partitions(self) -> tuple[int, ...]:
        return self._partitions

    def watermarks(self, partition: int) -> tuple[int, int]:
        low, high = self._consumer.get_watermark_offsets(TopicPartition(self.topic, partition), self._timeout)
        return int(low), int(high)

    def offsets_for_time(self, ms: int) -> dict[int, int]:
        asked = [TopicPartition(self.topic, p, ms) for p in self._partitions]
        return {tp.partition: tp.offset for tp in self._consumer.offsets_for_times(asked, self._timeout)}

    def timestamps(self, offsets: dict[int, int]) -> dict[int, int]:
        """Record timestamp of the first record at or after each offset (partitions with none are left out)."""
        found: dict[int, int] = {}
        if not offsets:
            return found
        self._consumer.incremental_assign([TopicPartition(self.topic, p, o) for p, o in offsets.items()])
        deadline = time.monotonic() + self._timeout
        while len(found) < len(offsets) and time.monotonic() < deadline:
            first: dict[int, int] = {}
            for m in self._consumer.consume(len(offsets), 0.2):
                partition = m.partition() or 0
                if m.error() is None and partition not in found and partition not in first:
                    first[partition] = m.timestamp()[1]
            # A partition found stops being fetched: while another is slow to answer (a leader moving, a broker
            # recovering), librdkafka would otherwise keep prefetching the found ones and this loop drain them.
            if first:
                self._consumer.incremental_unassign([TopicPartition(self.topic, p) for p in first])
                found |= first
        self._consumer.unassign()
        return found

    def close(self) -> None:
        self._consumer.close()
