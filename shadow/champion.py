"""The champion's side of a shadow join, read where the champion already keeps it.

The champion scorer writes every prediction to Cassandra before it commits its offsets, keyed by (model,
version, entity_id, event_time, event_id), and a challenger's prediction record carries all of that but the
champion's version. So the joiner reads the champion's row by primary key instead of consuming the champion's
predictions topic and holding both sides in memory: the predictions table is the durable join state.

Which versions: every version that held the champion alias recently (history), so events scored before a
promotion still find their champion. Which row: the one written as variant ``champion`` (a version that was
a challenger earlier has its own shadow rows in the same table). ``GroupProgress`` tells, from the
champion group's committed offsets, whether the champion has already passed an event: then a missing row
means the champion did not score it (a dead letter), not that it is still behind.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from cassandra.cluster import Session
from cassandra.concurrent import execute_concurrent_with_args
from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from scorecast.io.cql.predictions import EVENT_PREDICTION_COLUMNS, EventPrediction, select_event_predictions
from scorecast.settings import Settings
from scorers.registry import Registry

_MAX_VERSIONS = 8


@dataclass(frozen=True)
class ChampionScore:
    version: int
    score: float
    scored_at: int  # epoch ms


class ChampionVersions:
    """Versions that held the champion alias, newest first; re-read at most every ``refresh_s``."""

    def __init__(self, registry: Registry, model: str, refresh_s: float) -> None:
        self._registry = registry
        self._model = model
        self._refresh_s = refresh_s
        self._read_at = float("-inf")
        self._versions: list[int] = []

    def __call__(self) -> list[int]:
        if time.monotonic() - self._read_at > self._refresh_s:
            current = self._registry.aliases(self._model).get("champion", ())
            past = [c.version for c in self._registry.history(self._model) if c.alias == "champion" and c.version]
            self._versions = list(dict.fromkeys([*current, *past]))[:_MAX_VERSIONS]
            self._read_at = time.monotonic()
        return self._versions


class ChampionLookup:
    def __init__(self, session: Session, keyspace: str, model: str, max_in_flight: int = 128) -> None:
        self._session = session
        self._model = model
        self._select = session.prepare(select_event_predictions(keyspace, EVENT_PREDICTION_COLUMNS))
        self._max_in_flight = max_in_flight

    def fetch(self, versions: Sequence[int], keys: Sequence[tuple[str, int, str]]) -> dict[str, ChampionScore]:
        """event_id -> the champion's score, for the (entity_id, event_time, event_id) keys that have one."""
        if not keys or not versions:
            return {}
        listed = list(versions)
        args = [(self._model, listed, entity_id, event_time, event_id) for entity_id, event_time, event_id in keys]
        results = execute_concurrent_with_args(
            self._session, self._select, args, concurrency=self._max_in_flight, raise_on_first_error=True
        )
        found: dict[str, ChampionScore] = {}
        for (_, _, _, _, event_id), (_, rows) in zip(args, results, strict=True):
            best: ChampionScore | None = None
            for p in map(EventPrediction._make, rows):
                if p.variant == "champion" and (best is None or p.scored_at > best.scored_at):
                    best = ChampionScore(p.version, p.score, p.scored_at)
            if best is not None:
                found[event_id] = best
        return found


class GroupProgress:
    """A consumer group's committed offsets on a topic (here: the champion's on the events topic), read through
    the admin API: the reader never becomes a member of that group, so it can never disturb its assignment."""

    def __init__(self, settings: Settings, group: str, topic: str, timeout_s: float = 10.0) -> None:
        self._admin = AdminClient(settings.kafka_config())
        self._group = settings.group_id(group)
        self._topic = topic
        self._timeout_s = timeout_s

    def committed(self, partitions: Sequence[int]) -> dict[int, int]:
        """partition -> next offset the champion will score (negative where it has committed nothing)."""
        if not partitions:
            return {}
        request = ConsumerGroupTopicPartitions(self._group, [TopicPartition(self._topic, p) for p in set(partitions)])
        futures = self._admin.list_consumer_group_offsets([request], request_timeout=self._timeout_s)
        result = futures[self._group].result()
        return {tp.partition: tp.offset for tp in result.topic_partitions or []}
