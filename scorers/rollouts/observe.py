"""What the controller reads at each evaluation, incrementally: new joined results, new labels, dead letters.

Joined results (shadow/results) hold the candidate's and the champion's score of every shadowed event, so
every guardrail compares the two on the same events. ``ResultsCursor`` reads them by event time from where
the previous evaluation stopped, re-reading only the last ``settle_ms`` (rows the joiner writes a little
late) and skipping rows it has already handed out. ``LabelFeed`` keeps one consumer on the labels topic
(``assign``, no group, no commits) from the rollout's start and hands out only what arrived since the last
poll: a tick's cost no longer grows with the topic's retention. ``DeadLetterCount`` does the same with the
dead-letter topic from the stage's start time: one on the shadow topic is an error of the candidate's path, one
on the events topic an error of the champion's. Both follow their topic through the I/O layer's reader
(``scorecast.io.reader.Follower``, one bounded range per poll): ends across control records, and a stall is an
error, never a silent early stop.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import numpy as np
from cassandra.cluster import Session
from confluent_kafka import Consumer

from schemas.codec import AvroCodec
from schemas.errors import SchemaError
from schemas.registry import open_store, schema_name
from scorecast.io.reader import RANGE_CONSUMER_CONFIG, Follower
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
    """The labels topic, read on from where the previous poll stopped (``scorecast.io.reader.Follower``)."""

    def __init__(self, settings: Settings, stream: str, since_ms: int, timeout_s: float = 10.0) -> None:
        self.topic = settings.topic(stream, "labels")
        self._codec = AvroCodec(open_store(settings), self.topic, schema_name(stream, "labels"))
        self._follower = _follower(settings, "rollout-labels", self.topic, since_ms, timeout_s)
        self.partitions = self._follower.partitions

    def poll(self, budget_s: float = 2.0, max_messages: int = 50_000) -> LabelBatch:
        """What arrived since the previous poll, until every partition is caught up (or the budget is spent)."""
        out = LabelBatch()
        for batch in self._follower.poll(budget_s, max_messages):
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
        out.caught_up = list(self._follower.caught_up)
        return out

    def close(self) -> None:
        self._follower.close()


class DeadLetterCount:
    """Dead letters of the candidate's path (from the shadow topic) and the champion's (from the events topic)
    since a stage started, read on from the previous count: a tick reads only what is new."""

    def __init__(self, settings: Settings, stream: str, since_ms: int, timeout_s: float = 10.0) -> None:
        self.since_ms = since_ms
        topic = settings.topic(stream, "dead-letters")
        self._paths = {settings.topic(stream, "shadow"): 0, settings.topic(stream, "events"): 1}
        self._follower = _follower(settings, "rollout", topic, since_ms, timeout_s)
        self._counts = [0, 0]
        self._later: list[tuple[int, int]] = []  # (timestamp, path) of letters stamped at or after the last until
        self.read = 0  # dead letters read, all ticks together

    def count(self, until_ms: int) -> tuple[int, int]:
        """(candidate path, champion path) dead letters stamped before ``until_ms``."""
        for batch in self._follower.poll():
            self.read += len(batch.messages)
            for m in batch.messages:
                source = dict(m.headers() or []).get(_SOURCE)
                path = self._paths.get(source.decode() if isinstance(source, bytes) else str(source))
                if path is not None:
                    self._later.append((m.timestamp()[1], path))
        due = [path for stamp, path in self._later if stamp < until_ms]
        self._later = [(stamp, path) for stamp, path in self._later if stamp >= until_ms]
        for path in due:
            self._counts[path] += 1
        return self._counts[0], self._counts[1]

    def close(self) -> None:
        self._follower.close()


class Observer:
    def __init__(
        self, settings: Settings, session: Session, stream: str, read_labels: bool = True, timeout_s: float = 10.0
    ) -> None:
        self.settings = settings
        self.timeout_s = timeout_s  # each Kafka request, and how long a read may make no progress
        self._dead_letters: DeadLetterCount | None = None
        self.stream = stream
        self.reader = ResultsReader(session, settings.keyspace)
        self.with_labels = read_labels

    def results(self, model: str, candidate: int, since_ms: int, settle_ms: int) -> ResultsCursor:
        return ResultsCursor(self.reader, model, candidate, since_ms, settle_ms)

    def labels(self, since_ms: int) -> LabelFeed | None:
        return LabelFeed(self.settings, self.stream, since_ms, self.timeout_s) if self.with_labels else None

    def dead_letters(self, since_ms: int, until_ms: int) -> tuple[int, int]:
        """(candidate path, champion path) dead letters written between the two times, counted on from the
        previous call while ``since_ms`` (the stage's start) stays the same. A stall raises ``RetryableError``:
        the controller retries the evaluation instead of deciding on a partial count."""
        if self._dead_letters is None or self._dead_letters.since_ms != since_ms:
            self.close()
            self._dead_letters = DeadLetterCount(self.settings, self.stream, since_ms, self.timeout_s)
        return self._dead_letters.count(until_ms)

    def close(self) -> None:
        if self._dead_letters is not None:
            self._dead_letters.close()
            self._dead_letters = None


def _follower(settings: Settings, purpose: str, topic: str, since_ms: int, timeout_s: float) -> Follower:
    """A topic followed from ``since_ms`` with a fresh group id that is never committed (a read, not a group's
    progress); labels or dead letters that retention deleted are gone, so a reset reads on from the earliest."""
    consumer = Consumer(
        {
            **settings.kafka_config(),
            **RANGE_CONSUMER_CONFIG,
            "group.id": f"scorecast.{purpose}.{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
        }
    )
    try:
        return Follower(consumer, topic, since_ms, timeout_s=timeout_s)
    except BaseException:
        consumer.close()
        raise
