"""Consumer plumbing shared by the stream processors: one consumer assigned every partition, explicit commits.

A processor's statistics are global per model (a window pools every partition), so one processor instance
reads all partitions of its topics through the I/O layer's reader in its assign-all mode
(``scorecast.io.reader``) instead of joining a group rebalance; its consumer group id only names where offsets
are committed. Run one instance per (stream, model) processor.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from confluent_kafka import Consumer, Message, TopicPartition

from scorecast.io.reader import KafkaReader
from scorecast.process import StopRequestedError
from scorecast.settings import Settings

log = logging.getLogger(__name__)

TP = tuple[str, int]


def consumer(settings: Settings, group: str) -> Consumer:
    return Consumer(
        {
            **settings.kafka_config(),
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            # Bounds the prefetch queue, and so memory, whatever the backlog.
            "queued.max.messages.kbytes": 16384,
            # End-of-partition events tell the watermark which partitions are caught up (idle).
            "enable.partition.eof": True,
        }
    )


def reader(client: Consumer) -> KafkaReader:
    """The one reader's assign-all mode over a processor's consumer."""
    return KafkaReader(client, "stream processor consumer", batch_max=5_000, wait_s=0.2)


def assign_all(client: Consumer, topics: Iterable[str], timeout_s: float = 10.0) -> list[TP]:
    """Assign every partition of ``topics`` at the group's committed offsets (the beginning if none)."""
    return reader(client).assign_all(topics, timeout_s)


class Alignment:
    """Watermark alignment: pause a partition whose event time runs more than ``max_skew_ms`` ahead of the
    slowest one, resume it once the others catch up. Catching up a backlog then never opens more windows than
    the skew allows, and no partition's events turn late because another was read first."""

    def __init__(self, client: Consumer, max_skew_ms: int) -> None:
        self._client = client
        self.max_skew_ms = max_skew_ms
        self.paused: set[TP] = set()

    def update(self, topic: str, latest: dict[int, int], idle: set[int]) -> None:
        active = [t for p, t in latest.items() if p not in idle]
        if not active:
            return
        floor = min(active)
        pause, resume = [], []
        for partition, event_time in latest.items():
            tp = (topic, partition)
            ahead = event_time - floor > self.max_skew_ms
            if ahead and tp not in self.paused:
                pause.append(tp)
            elif not ahead and tp in self.paused:
                resume.append(tp)
        if pause:
            self._client.pause([TopicPartition(t, p) for t, p in pause])
            self.paused.update(pause)
        if resume:
            self._client.resume([TopicPartition(t, p) for t, p in resume])
            self.paused.difference_update(resume)


def where(message: Message) -> tuple[str, int, int]:
    """(topic, partition, offset) of a consumed message (never None once consumed without error)."""
    return message.topic() or "", message.partition() or 0, message.offset() or 0


@dataclass(frozen=True)
class TopicBatch:
    """The messages of one topic in a consumed batch, with their partitions and offsets as arrays."""

    messages: list[Message]
    partitions: np.ndarray
    offsets: np.ndarray

    def next_offsets(self, topic: str) -> dict[TP, int]:
        """Per partition, the offset after the last message of this batch."""
        found: dict[TP, int] = {}
        for partition in np.unique(self.partitions).tolist():
            found[(topic, partition)] = int(self.offsets[self.partitions == partition].max()) + 1
        return found


def by_topic(messages: list[Message]) -> dict[str, TopicBatch]:
    groups: dict[str, list[Message]] = {}
    for message in messages:
        groups.setdefault(message.topic() or "", []).append(message)
    return {
        topic: TopicBatch(
            group,
            np.fromiter((m.partition() for m in group), dtype=np.int64, count=len(group)),
            np.fromiter((m.offset() for m in group), dtype=np.int64, count=len(group)),
        )
        for topic, group in groups.items()
    }


def commit(client: Consumer, offsets: dict[TP, int]) -> None:
    if offsets:
        client.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()], asynchronous=False)


def drive(
    client: Consumer,
    process: Callable[[list[Message], list[TP], threading.Event], None],
    checkpoint: Callable[[], None],
    stop: threading.Event,
    idle_exit_s: float | None,
    checkpoint_s: float,
) -> None:
    """The processors' loop: take a batch through the reader, process it, checkpoint every ``checkpoint_s`` and
    once more at the end. A fatal consumer error raises without that last checkpoint (a batch may be half
    processed), and a stop that cut an outage's wait short returns without it; the restarted processor resumes
    from the previous one."""
    source = reader(client)
    last_checkpoint = time.monotonic()
    while not stop.is_set():
        batch = source.take()
        if batch.records or batch.ends:
            try:
                process(batch.records, [(e.topic, e.partition) for e in batch.ends], stop)
            except StopRequestedError as stopped:
                # No last checkpoint: the batch in hand may be half processed; the restart reads it again.
                log.warning("%s; the batch in hand is left unprocessed and read again after the restart", stopped)
                return
        if not batch.records and idle_exit_s is not None and source.quiet_for() > idle_exit_s:
            break
        if time.monotonic() - last_checkpoint >= checkpoint_s:
            checkpoint()
            last_checkpoint = time.monotonic()
    checkpoint()
