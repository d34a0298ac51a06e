"""What the controller reads at each evaluation, incrementally: new joined results, new labels, dead letters.

Joined results (shadow/results) hold the candidate's and the champion's score of every shadowed event, so
every guardrail compares the two on the same events. ``ResultsCursor`` reads them by event time from where
the previous evaluation stopped, re-reading only the last ``settle_ms`` (rows the joiner writes a little
late) and skipping rows it has already handed out. ``LabelFeed`` keeps one consumer on the labels topic
(``assign``, no group, no commits) from the rollout's start and hands out only what arrived since the last
poll: a tick's cost no longer grows with the topic's retention. Dead letters come from the dead-letter topic
read from the stage's start time: one on the shadow topic is an error of the candidate's path, one on the
events topic an error of the champion's.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

import numpy as np
from cassandra.cluster import Session
from confluent_kafka import Consumer, KafkaError, TopicPartition

from schemas.codec import AvroCodec
from schemas.errors import SchemaError
from schemas.registry import open_store, schema_name
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
    """The labels topic, read on from where the previous poll stopped."""

    def __init__(self, settings: Settings, stream: str, since_ms: int, timeout_s: float = 10.0) -> None:
        self.topic = settings.topic(stream, "labels")
        self._codec = AvroCodec(open_store(settings), self.topic, schema_name(stream, "labels"))
        config = {
            **settings.kafka_config(),
            "group.id": f"scorecast.rollout-labels.{uuid.uuid4()}",  # never committed: a read
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
        }
        self._consumer = Consumer(config)
        metadata = self._consumer.list_topics(self.topic, timeout=timeout_s).topics.get(self.topic)
        self.partitions: list[int] = [] if metadata is None or metadata.error else sorted(metadata.partitions)
        starts = self._consumer.offsets_for_times(
            [TopicPartition(self.topic, p, since_ms) for p in self.partitions], timeout=timeout_s
        )
        for tp in starts:
            if tp.offset < 0:  # nothing at or after since_ms yet: start at the end
                tp.offset = self._consumer.get_watermark_offsets(tp, timeout=timeout_s)[1]
        self._consumer.assign(starts)

    def poll(self, budget_s: float = 2.0, max_messages: int = 50_000) -> LabelBatch:
        """What arrived since the previous poll, until every partition is caught up (or the budget is spent)."""
        out = LabelBatch()
        behind = set(self.partitions)
        deadline = time.monotonic() + budget_s
        read = 0
        while behind and read < max_messages and time.monotonic() < deadline:
            messages = self._consumer.consume(5_000, 0.5)
            for m in messages:
                error = m.error()
                partition = m.partition() or 0
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        behind.discard(partition)
                        out.caught_up.append(partition)
                    continue
                read += 1
                try:
                    record = self._codec.decode(m.value() or b"")
                except SchemaError:
                    out.undecodable += 1
                    continue
                out.partitions.append(partition)
                out.event_ids.append(record["event_id"])
                out.labels.append(int(record["label"]))
                out.label_times.append(int(record["label_time"]))
        return out

    def close(self) -> None:
        self._consumer.close()


class Observer:
    def __init__(self, settings: Settings, session: Session, stream: str, read_labels: bool = True) -> None:
        self.settings = settings
        self.stream = stream
        self.reader = ResultsReader(session, settings.keyspace)
        self.with_labels = read_labels

    def results(self, model: str, candidate: int, since_ms: int, settle_ms: int) -> ResultsCursor:
        return ResultsCursor(self.reader, model, candidate, since_ms, settle_ms)

    def labels(self, since_ms: int) -> LabelFeed | None:
        return LabelFeed(self.settings, self.stream, since_ms) if self.with_labels else None

    def dead_letters(self, since_ms: int, until_ms: int) -> tuple[int, int]:
        """(candidate path, champion path) dead letters written between the two times."""
        topic = self.settings.topic(self.stream, "dead-letters")
        shadow, events = self.settings.topic(self.stream, "shadow"), self.settings.topic(self.stream, "events")
        group = f"scorecast.rollout.{uuid.uuid4()}"  # never committed: a read, not a consumer group's progress
        consumer = Consumer({**self.settings.kafka_config(), "group.id": group, "enable.auto.commit": False})
        counts = {shadow: 0, events: 0}
        try:
            metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
            if metadata is None or metadata.error is not None:
                return 0, 0
            starts = consumer.offsets_for_times([TopicPartition(topic, p, since_ms) for p in metadata.partitions])
            ends: dict[int, int] = {}
            assign = []
            for tp in starts:
                high = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=10)[1]
                if 0 <= tp.offset < high:
                    ends[tp.partition] = high
                    assign.append(tp)
            consumer.assign(assign)
            while ends:
                messages = consumer.consume(5000, 5.0)
                if not messages:
                    break  # a partition that ends with control records: what was read is what there is
                for m in messages:
                    partition, offset = m.partition() or 0, m.offset() or 0
                    if m.error() is not None or partition not in ends or offset >= ends[partition]:
                        continue
                    stamp = m.timestamp()[1]
                    if stamp < until_ms:
                        source = dict(m.headers() or []).get(_SOURCE)
                        name = source.decode() if isinstance(source, bytes) else str(source)
                        if name in counts:
                            counts[name] += 1
                    if offset + 1 >= ends[partition]:
                        del ends[partition]
        finally:
            consumer.close()
        return counts[shadow], counts[events]
