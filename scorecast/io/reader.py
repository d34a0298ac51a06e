"""The one Kafka reader: a consumer read in one of three modes, every batch sorted by one policy (read_policy).

- ``subscribe(topics, ...)`` — live, group-subscribed: the group assigns partitions, the caller commits
  (``scorecast.batch_consumer.BatchConsumer``: scorers, shadow tee, shadow joiner);
- ``assign_all(topics)`` — live, every partition of the topics at the group's committed offsets (the beginning
  where none), no rebalances: one instance reads them all (the stream processors, whose statistics pool every
  partition);
- ``range(topic, spans)`` — bounded: each partition from a start to an end offset, then stop (replay scans, label
  fetches, the rollout controller's label feed and dead-letter counts). A partition is finished at its record
  ``end - 1`` or at an end-of-partition at or past ``end`` (control records and compaction leave offsets with no
  record, so waiting for ``end - 1`` alone could wait for ever); records prefetched past the end are dropped
  and a finished partition is paused; no record and no end for ``stall_s`` while a partition is unfinished
  raises ``RetryableError`` (a broker that stopped answering is never an endless loop, nor a silent early
  stop). A range read never commits; its consumer must have ``enable.partition.eof`` on
  (``RANGE_CONSUMER_CONFIG``).

The live modes call ``take`` in their own loop, because what happens between batches (deliver and commit,
checkpoint) is theirs; ``quiet_for`` is how long nothing came. ``Follower`` reads a topic on from a time, one
range per poll up to the high watermark then (the rollout controller's labels and dead letters).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition

from scorecast.errors import ConfigError, RetryableError
from scorecast.io.errors import kafka_error
from scorecast.io.read_policy import WAIT_S, End, Progress, ReadErrors, Sorted, take_batch

__all__ = [
    "RANGE_CONSUMER_CONFIG",
    "STALL_S",
    "Follower",
    "KafkaReader",
    "RangeBatch",
    "Span",
    "read_range",
    "take_batch",
]

STALL_S = 60.0
TP = tuple[str, int]
OnPartitions = Callable[[Consumer, list[TopicPartition]], None]

# What a range reader's consumer needs on top of Settings.kafka_config() and a group.id.
RANGE_CONSUMER_CONFIG: dict[str, Any] = {
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
    "enable.partition.eof": True,
    "auto.offset.reset": "error",  # retention deleting part of the range fails loudly, never skips
}


@dataclass(frozen=True)
class Span:
    """``[start, end)`` of one partition."""

    partition: int
    start: int
    end: int


@dataclass(frozen=True)
class RangeBatch:
    messages: list[Message]  # records inside the range, in offset order per partition
    partitions: list[int]  # per message
    offsets: list[int]  # per message
    advanced: dict[int, int]  # partition -> next offset to read after this batch (its end once finished)


class KafkaReader:
    def __init__(
        self,
        consumer: Consumer,
        what: str,
        *,
        batch_max: int = 2000,
        wait_s: float = WAIT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.consumer = consumer
        self.what = what
        self.batch_max = batch_max
        self.wait_s = wait_s
        self.errors = ReadErrors(what, clock)
        self._progress = Progress(clock)
        self._paused: list[TopicPartition] = []  # what a range read paused, resumed by the next one

    # --- mode 1: live, group-subscribed -------------------------------------------------------------------
    def subscribe(
        self, topics: Sequence[str], *, on_assign: OnPartitions, on_revoke: OnPartitions, on_lost: OnPartitions
    ) -> None:
        self.consumer.subscribe(list(topics), on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost)

    # --- mode 2: live, every partition --------------------------------------------------------------------
    def assign_all(self, topics: Iterable[str], timeout_s: float = 10.0) -> list[TP]:
        """Assign every partition of ``topics`` at the group's committed offsets (the beginning if none)."""
        try:
            metadata = self.consumer.list_topics(timeout=timeout_s)
            partitions = []
            for topic in topics:
                found = metadata.topics.get(topic)
                if found is None or found.error is not None:
                    raise ConfigError(f"topic {topic} does not exist (run `scorecast init`)")
                partitions += [TopicPartition(topic, p) for p in sorted(found.partitions)]
            committed = self.consumer.committed(partitions, timeout=timeout_s)
        except KafkaException as error:
            raise kafka_error(error, self.what) from error
        for tp in committed:
            if tp.offset < 0:
                tp.offset = OFFSET_BEGINNING
        self.consumer.assign(committed)
        return [(tp.topic, tp.partition) for tp in committed]

    # --- the live modes' batch ----------------------------------------------------------------------------
    def take(self) -> Sorted:
        """One batch of records and ends, sorted by the policy (a fatal error raises)."""
        self.errors.raise_if_fatal()
        batch = self.errors.sort(take_batch(self.consumer, self.batch_max, self.wait_s), bounded=False)
        if batch.records or batch.ends:
            self._progress.made()
        return batch

    def quiet_for(self) -> float:
        """Seconds since the last record or end."""
        return self._progress.quiet_for()

    def still(self) -> None:
        """Nothing is expected now (no partition held): quiet time starts over."""
        self._progress.made()

    # --- mode 3: bounded ----------------------------------------------------------------------------------
    def range(self, topic: str, spans: Sequence[Span], *, stall_s: float = STALL_S) -> Iterator[RangeBatch]:
        """Batches of ``topic``'s records within ``spans`` until every span is read to its end."""
        ends = {s.partition: s.end for s in spans if s.end > s.start}
        if self._paused:  # a previous range's finished partitions: the consumer may be assigned them again
            self.consumer.resume(self._paused)
            self._paused = []
        if not ends:
            return
        self.consumer.assign([TopicPartition(topic, s.partition, s.start) for s in spans if s.partition in ends])
        self._progress.made()
        while ends:
            batch = self.errors.sort(take_batch(self.consumer, self.batch_max, self.wait_s), bounded=True)
            finished = [e.partition for e in batch.ends if _past(e, ends)]
            kept: list[Message] = []
            partitions: list[int] = []
            offsets: list[int] = []
            advanced: dict[int, int] = {}
            for m in batch.records:
                partition, offset = m.partition() or 0, m.offset() or 0
                end = ends.get(partition)
                if end is None or offset >= end:  # prefetched past a finished partition's end
                    continue
                kept.append(m)
                partitions.append(partition)
                offsets.append(offset)
                advanced[partition] = offset + 1
                if offset + 1 >= end:
                    finished.append(partition)
            if not kept and not finished:
                if self._progress.quiet_for() > stall_s:
                    raise RetryableError(f"reading {topic} stalled: no record for {stall_s:g}s before the range's end")
                continue
            self._progress.made()
            for partition in finished:
                if partition in ends:
                    advanced[partition] = ends.pop(partition)
                    paused = TopicPartition(topic, partition)
                    self.consumer.pause([paused])
                    self._paused.append(paused)
            yield RangeBatch(kept, partitions, offsets, advanced)


class Follower:
    """A topic read on from a time, one bounded range per poll: from where the previous poll stopped to each
    partition's high watermark at the poll (end-of-partition is reported once per end, so waiting for it again
    would wait out a whole budget). It never commits; its consumer is a range reader's (``RANGE_CONSUMER_CONFIG``).
    """

    def __init__(self, consumer: Consumer, topic: str, since_ms: int, *, timeout_s: float = 10.0) -> None:
        self.topic = topic
        self.timeout_s = timeout_s
        self.caught_up: list[int] = []  # partitions the last poll read to its end
        self._reader = KafkaReader(consumer, f"reading {topic}", batch_max=5_000)
        try:
            found = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
            self.partitions: list[int] = [] if found is None or found.error is not None else sorted(found.partitions)
            asked = [TopicPartition(topic, p, since_ms) for p in self.partitions]
            starts = consumer.offsets_for_times(asked, timeout=timeout_s) if asked else []
            # nothing at or after since_ms yet: start at the end
            self._next = {tp.partition: tp.offset if tp.offset >= 0 else self._high(tp.partition) for tp in starts}
        except KafkaException as error:
            raise kafka_error(error, f"reading {topic}") from error

    def poll(self, budget_s: float | None = None, max_messages: int | None = None) -> Iterator[RangeBatch]:
        """What arrived since the previous poll. Past ``budget_s`` or ``max_messages`` it stops after a batch;
        the rest comes with the next poll."""
        try:
            spans = [Span(p, self._next[p], self._high(p)) for p in self.partitions]
        except KafkaException as error:
            raise kafka_error(error, f"reading {self.topic}") from error
        ends = {s.partition: s.end for s in spans}
        self.caught_up = [s.partition for s in spans if s.end <= s.start]
        deadline = None if budget_s is None else time.monotonic() + budget_s
        read = 0
        for batch in self._reader.range(self.topic, spans, stall_s=self.timeout_s):
            for partition, offset in batch.advanced.items():
                self._next[partition] = offset
                if offset >= ends[partition]:
                    self.caught_up.append(partition)
            yield batch
            read += len(batch.messages)
            if (max_messages is not None and read >= max_messages) or (
                deadline is not None and time.monotonic() >= deadline
            ):
                return

    def close(self) -> None:
        self._reader.consumer.close()

    def _high(self, partition: int) -> int:
        tp = TopicPartition(self.topic, partition)
        return int(self._reader.consumer.get_watermark_offsets(tp, timeout=self.timeout_s)[1])


def _past(end: End, ends: dict[int, int]) -> bool:
    """The range's end reached across markers or compacted offsets (an end before it is not the end)."""
    last = ends.get(end.partition)
    return last is not None and end.offset >= last


def read_range(
    consumer: Consumer,
    topic: str,
    spans: Sequence[Span],
    *,
    batch: int = 4000,
    wait_s: float = WAIT_S,
    stall_s: float = STALL_S,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[RangeBatch]:
    """A one-off range read on a fresh consumer (assigned nothing yet)."""
    reader = KafkaReader(consumer, f"reading {topic}", batch_max=batch, wait_s=wait_s, clock=clock)
    return reader.range(topic, spans, stall_s=stall_s)
