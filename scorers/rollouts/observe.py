"""What the controller reads at each evaluation, incrementally: new joined results, new labels, dead letters.

Joined results (shadow/results) hold the candidate's and the champion's score of every shadowed event, so
every guardrail compares the two on the same events. ``ResultsCursor`` reads them by event time from where
the previous evaluation stopped, re-reading only the last ``settle_ms`` (rows the joiner writes a little
late) and skipping rows it has already handed out. ``LabelFeed`` keeps one consumer on the labels topic
(``assign``, no group, no commits) from the rollout's start and hands out only what arrived since the last
poll: a tick's cost no longer grows with the topic's retention. Dead letters come from the dead-letter topic
read from the stage's start time: one on the shadow topic is an error of the candidate's path, one on the
events topic an error of the champion's. Both Kafka reads are the I/O layer reader's bounded mode
(``scorecast.io.reader``): ends across control records, a stall is an error, never a silent early stop.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

import numpy as np
from cassandra.cluster import Session
from confluent_kafka import Consumer, KafkaException, TopicPartition

from schemas.codec import AvroCodec
from schemas.errors import SchemaError
from schemas.registry import open_store, schema_name
from scorecast.io.errors import kafka_error
from scorecast.io.reader import RANGE_CONSUMER_CONFIG, KafkaReader, Span
from scorecast.settings import Settings
from shadow.results import JoinedColumns, ResultsReader

_SOURCE = "scorecast.dlq.source.topic"


class ResultsCursor:
    """Joined rows of one candidate handed out once each, in the order the evaluations read them."""

    def __init__(self, reader: ResultsReader, model: str, candidate: int, since_ms: int, settle_ms: int) -> None:
        self.reader, self.model, self.candidate = reader, model, candidate
        self.since_ms = since_ms
        self.until_ms = since_ms
        self.settle_ms = settle_ms
        self._seen: dict[str, int] = {}  # event id -> event time, for rows within the settle window

    def read(self, until_ms: int) -> JoinedColumns:
        start = max(self.since_ms, self.until_ms - self.settle_ms)
        buckets = self.reader.partitions(self.model).get(self.candidate, [])
        rows = self.reader.read(self.model, self.candidate, buckets, start, until_ms)
        keep = [e not in self._seen for e in rows.event_ids]
        rows = rows.select(np.asarray(keep, dtype=bool))
        self._seen.update(zip(rows.event_ids, rows.event_times.tolist(), strict=True))
        self.until_ms = max(self.until_ms, until_ms)
        horizon = self.until_ms - self.settle_ms
        self._seen = {e: t for e, t in self._seen.items() if t >= horizon}
        return rows


@dataclass
class LabelBatch:
    partitions: list[int] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    label_times: list[int] = field(default_factory=list)
    caught_up: list[int] = field(default_factory=list)  # partitions read to their end
    undecodable: int = 0


class LabelFeed:
    """The labels topic, read on from where the previous poll stopped: each poll is a bounded read of the
    reader (``scorecast.io.reader``) from there to the high watermark, so a partition with nothing new costs no
    wait (end-of-partition is reported once per end, so waiting for it again waited out the whole budget)."""

    def __init__(self, settings: Settings, stream: str, since_ms: int, timeout_s: float = 10.0) -> None:
        self.topic = settings.topic(stream, "labels")
        self._codec = AvroCodec(open_store(settings), self.topic, schema_name(stream, "labels"))
        self._timeout_s = timeout_s
        consumer = _read_consumer(settings, "rollout-labels")
        self._reader = KafkaReader(consumer, f"reading {self.topic}", bounded=True, batch_max=5_000)
        try:
            metadata = consumer.list_topics(self.topic, timeout=timeout_s).topics.get(self.topic)
            self.partitions: list[int] = [] if metadata is None or metadata.error else sorted(metadata.partitions)
            starts = consumer.offsets_for_times(
                [TopicPartition(self.topic, p, since_ms) for p in self.partitions], timeout=timeout_s
            )
            # nothing at or after since_ms yet: start at the end
            self._next = {tp.partition: tp.offset if tp.offset >= 0 else self._high(tp.partition) for tp in starts}
        except KafkaException as error:
            consumer.close()
            raise kafka_error(error, f"reading {self.topic}") from error

    def poll(self, budget_s: float = 2.0, max_messages: int = 50_000) -> LabelBatch:
        """What arrived since the previous poll, until every partition is caught up (or the budget is spent)."""
        out = LabelBatch()
        try:
            spans = [Span(p, self._next[p], self._high(p)) for p in self.partitions]
        except KafkaException as error:
            raise kafka_error(error, f"reading {self.topic}") from error
        ends = {s.partition: s.end for s in spans}
        out.caught_up = [s.partition for s in spans if s.end <= s.start]
        deadline = time.monotonic() + budget_s
        read = 0
        for batch in self._reader.range(self.topic, spans, stall_s=self._timeout_s):
            for message, partition in zip(batch.messages, batch.partitions, strict=True):
                try:
                    record = self._codec.decode(message.value() or b"")
                except SchemaError:
                    out.undecodable += 1
                    continue
                out.partitions.append(partition)
                out.event_ids.append(record["event_id"])
                out.labels.append(int(record["label"]))
                out.label_times.append(int(record["label_time"]))
            read += len(batch.messages)
            for partition, offset in batch.advanced.items():
                self._next[partition] = offset
                if offset >= ends[partition]:
                    out.caught_up.append(partition)
            if read >= max_messages or time.monotonic() >= deadline:
                break  # the rest comes with the next poll, from self._next
        return out

    def _high(self, partition: int) -> int:
        tp = TopicPartition(self.topic, partition)
        return int(self._reader.consumer.get_watermark_offsets(tp, timeout=self._timeout_s)[1])

    def close(self) -> None:
        self._reader.consumer.close()


class Observer:
    def __init__(
        self, settings: Settings, session: Session, stream: str, read_labels: bool = True, timeout_s: float = 10.0
    ) -> None:
        self.settings = settings
        self.timeout_s = timeout_s  # each Kafka request, and how long a read may make no progress
        self.stream = stream
        self.reader = ResultsReader(session, settings.keyspace)
        self.with_labels = read_labels

    def results(self, model: str, candidate: int, since_ms: int, settle_ms: int) -> ResultsCursor:
        return ResultsCursor(self.reader, model, candidate, since_ms, settle_ms)

    def labels(self, since_ms: int) -> LabelFeed | None:
        return LabelFeed(self.settings, self.stream, since_ms, self.timeout_s) if self.with_labels else None

    def dead_letters(self, since_ms: int, until_ms: int) -> tuple[int, int]:
        """(candidate path, champion path) dead letters written between the two times: a bounded read of the
        dead-letter topic from ``since_ms`` to its end (a stall raises ``RetryableError``; the controller retries
        the evaluation instead of deciding on a partial count)."""
        topic = self.settings.topic(self.stream, "dead-letters")
        shadow, events = self.settings.topic(self.stream, "shadow"), self.settings.topic(self.stream, "events")
        consumer = _read_consumer(self.settings, "rollout")
        counts = {shadow: 0, events: 0}
        try:
            spans = self._dead_letter_spans(consumer, topic, since_ms)
            reader = KafkaReader(consumer, f"reading {topic}", bounded=True, batch_max=5_000)
            for batch in reader.range(topic, spans, stall_s=self.timeout_s):
                for m in batch.messages:
                    if m.timestamp()[1] < until_ms:
                        source = dict(m.headers() or []).get(_SOURCE)
                        name = source.decode() if isinstance(source, bytes) else str(source)
                        if name in counts:
                            counts[name] += 1
        except KafkaException as error:
            raise kafka_error(error, f"reading {topic}") from error
        finally:
            consumer.close()
        return counts[shadow], counts[events]

    def _dead_letter_spans(self, consumer: Consumer, topic: str, since_ms: int) -> list[Span]:
        metadata = consumer.list_topics(topic, timeout=self.timeout_s).topics.get(topic)
        if metadata is None or metadata.error is not None:
            return []
        starts = consumer.offsets_for_times(
            [TopicPartition(topic, p, since_ms) for p in metadata.partitions], timeout=self.timeout_s
        )
        spans = []
        for tp in starts:
            high = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=self.timeout_s)[1]
            if 0 <= tp.offset < high:
                spans.append(Span(tp.partition, tp.offset, high))
        return spans


def _read_consumer(settings: Settings, purpose: str) -> Consumer:
    """A consumer for bounded reads: a fresh group id that is never committed (a read, not a group's progress)."""
    return Consumer(
        {
            **settings.kafka_config(),
            **RANGE_CONSUMER_CONFIG,
            "group.id": f"scorecast.{purpose}.{uuid.uuid4()}",
            "auto.offset.reset": "earliest",  # labels or dead letters that retention deleted are gone: read on
        }
    )
