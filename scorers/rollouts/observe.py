"""What the controller looks at for one window: joined results, labels and dead letters of both paths.

Joined results (shadow/results) hold the candidate's and the champion's score of every shadowed event, so
every guardrail compares the two on the same events. Labels come from the labels topic (shadow.labels reads
it to its current end), dead letters from the dead-letter topic read from the window's start time with
``assign`` (no group, no commits): one on the shadow topic is an error of the candidate's path, one on the
events topic an error of the champion's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import numpy as np
from cassandra.cluster import Session
from confluent_kafka import Consumer, TopicPartition

from scorecast.settings import Settings
from scorers.rollouts.guardrails import Observations
from shadow.labels import read_labels
from shadow.results import ResultsReader

_SOURCE = "scorecast.dlq.source.topic"


@dataclass(frozen=True)
class Window:
    observations: Observations
    entity_ids: list[str]
    since_ms: int
    until_ms: int


class Observer:
    def __init__(self, settings: Settings, session: Session, stream: str, read_labels: bool = True) -> None:
        self.settings = settings
        self.stream = stream
        self.reader = ResultsReader(session, settings.keyspace)
        self.with_labels = read_labels

    def window(self, model: str, candidate: int, since_ms: int, until_ms: int, shadow_fraction: float) -> Window:
        buckets = self.reader.partitions(model).get(candidate, [])
        joined = self.reader.read(model, candidate, buckets, since_ms, until_ms)
        order = np.argsort(joined.event_times, kind="stable")  # the sequential test reads events in time order
        ids = [joined.event_ids[i] for i in order]
        labels = np.full(len(ids), -1, dtype=np.int64)
        if self.with_labels and ids:
            found = read_labels(self.settings, self.stream, set(ids)).by_event
            labels = np.array([found.get(e, -1) for e in ids], dtype=np.int64)
        candidate_errors, champion_errors = self.dead_letters(since_ms, until_ms)
        observations = Observations(
            champion_scores=joined.champion_scores[order],
            candidate_scores=joined.challenger_scores[order],
            candidate_latency_ms=joined.challenger_latency_ms[order],
            labels=labels,
            candidate_errors=candidate_errors,
            champion_errors=champion_errors,
            champion_events=round(len(ids) / shadow_fraction) + champion_errors,
        )
        return Window(observations, [joined.entity_ids[i] for i in order], since_ms, until_ms)

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
