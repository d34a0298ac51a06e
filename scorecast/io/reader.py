"""Reading exactly a range of a topic: each partition from a start offset to an end offset, then stop.

One policy for every bounded read (replay scans, label fetches):

- a partition is finished when a record at ``end - 1`` arrives, or when librdkafka reports end-of-partition
  at or past ``end`` — control records (transaction markers) and compaction leave offsets with no record, so
  waiting for the record at ``end - 1`` alone could wait forever;
- records prefetched past a partition's end are dropped, and a finished partition is paused;
- no record and no end for ``stall_s`` while a partition is unfinished raises ``RetryableError`` (a broker
  that stopped answering is never an endless loop, nor a silent early stop);
- a consumer error is translated by ``kafka_error``.

The consumer must be assigned nothing yet and have ``enable.partition.eof`` on (``range_consumer_config``
gives the settings); the reader assigns the ranges itself and never commits.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from scorecast.batch_consumer import take_batch
from scorecast.errors import RetryableError
from scorecast.io.errors import kafka_error

STALL_S = 60.0
WAIT_S = 0.05  # an empty queue waits this long for a batch before the loop looks again (take_batch)

# What a reader's consumer needs on top of Settings.kafka_config() and a group.id.
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
    """Batches of ``topic``'s records within ``spans`` until every span is read to its end."""
    ends = {s.partition: s.end for s in spans if s.end > s.start}
    if not ends:
        return
    consumer.assign([TopicPartition(topic, s.partition, s.start) for s in spans if s.partition in ends])
    last_progress = clock()
    while ends:
        kept: list[Message] = []
        partitions: list[int] = []
        offsets: list[int] = []
        advanced: dict[int, int] = {}
        finished: list[int] = []
        for m in take_batch(consumer, batch, wait_s):
            partition, offset = m.partition() or 0, m.offset() or 0
            end = ends.get(partition)
            error = m.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    raise kafka_error(error, f"reading {topic}")
                if end is not None and offset >= end:  # the end, reached across markers or compacted offsets
                    finished.append(partition)
                continue
            if end is None or offset >= end:  # prefetched past a finished partition's end
                continue
            kept.append(m)
            partitions.append(partition)
            offsets.append(offset)
            advanced[partition] = offset + 1
            if offset + 1 >= end:
                finished.append(partition)
        if not kept and not finished:
            if clock() - last_progress > stall_s:
                raise RetryableError(f"reading {topic} stalled: no record for {stall_s:g}s before the range's end")
            continue
        last_progress = clock()
        for partition in finished:
            if partition in ends:
                advanced[partition] = ends.pop(partition)
                consumer.pause([TopicPartition(topic, partition)])
        yield RangeBatch(kept, partitions, offsets, advanced)
