"""The shadow joiner: challenger predictions joined with the champion's prediction of the same event.

Where the join happens, and why: a BatchConsumer on ``<stream>.shadow-predictions`` looks the champion's row
up in Cassandra by primary key (shadow.champion) and upserts one joined row per (challenger version, event)
(shadow.results). The champion's side is already durable there, so the joiner holds no pending state: a
batch is handled once, delivered (retried) and only then committed, like every other consumer, and a
restart simply redoes the uncommitted batches. A two-topic join would have to keep unmatched sides in memory
past their commit, or persist them, to survive restarts; this design needs neither.

When the champion is behind, a challenger prediction waits: delivery raises ``ChampionBehindError`` and the
BatchConsumer retries with backoff (nothing new is consumed meanwhile, so memory stays one batch). It stops
waiting for an event once the champion's group has committed past it (the champion did not score it:
``champion_missing``) or after ``max_wait_s`` (``unmatched``); both are counted and logged, never silent.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from confluent_kafka import Message
from opentelemetry import metrics

from schemas.codec import AvroCodec
from schemas.dead_letters import DeadLetterSink
from schemas.registry import open_store as open_schema_store
from schemas.registry import schema_name
from scorecast.batch_consumer import BatchConsumer, ConsumerConfig, Deliver
from scorecast.cassandra import connect
from scorecast.errors import ScorecastError
from scorecast.settings import Settings
from scorers.artifacts import open_store as open_artifact_store
from scorers.registry import Registry
from scorers.worker import WorkerConfig
from shadow.champion import ChampionLookup, ChampionProgress, ChampionScore, ChampionVersions
from shadow.records import ShadowPredictions, decode_predictions
from shadow.results import JoinedRow, ResultsWriter

log = logging.getLogger(__name__)
meter = metrics.get_meter("scorecast.shadow")
_joined = meter.create_counter("scorecast_shadow_joined", unit="1", description="challenger predictions joined")
_unjoined = meter.create_counter(
    "scorecast_shadow_unjoined", unit="1", description="challenger predictions without a champion prediction"
)


class ChampionBehindError(ScorecastError):
    """Some champion predictions of a batch are not written yet; the batch is retried."""


@dataclass(frozen=True)
class JoinConfig:
    stream: str
    model: str
    group_id: str | None = None  # default: scorecast.<stream>.shadow-join.<model>
    champion_group: str | None = None  # default: the champion scorer's default group
    max_wait_s: float = 120.0  # longest wait for a champion that is behind, per batch
    batch_max: int = 2000
    instance_id: str | None = None

    @property
    def group(self) -> str:
        return self.group_id or f"scorecast.{self.stream}.shadow-join.{self.model}"

    @property
    def champions(self) -> str:
        return self.champion_group or WorkerConfig(stream=self.stream, model=self.model).group


@dataclass
class JoinStats:
    batches: int = 0
    received: int = 0
    joined: int = 0
    champion_missing: int = 0  # the champion passed the event without scoring it
    unmatched: int = 0  # no champion prediction within max_wait_s
    dead_lettered: int = 0
    other_models: int = 0
    retries: int = 0


@dataclass
class _Pending:
    """One batch's progress, kept across delivery retries so a retry redoes only what is left."""

    batch: ShadowPredictions
    started: float
    champions: dict[str, ChampionScore] = field(default_factory=dict)
    written: set[int] = field(default_factory=set)  # rows of the batch already joined
    settled: set[str] = field(default_factory=set)  # event ids given up on
    dead_letters_sent: bool = False


class ShadowJoiner:
    def __init__(
        self,
        settings: Settings,
        config: JoinConfig,
        codec: AvroCodec,
        versions: Callable[[], list[int]],
        lookup: ChampionLookup,
        progress: ChampionProgress,
        writer: ResultsWriter,
        dead_letters: DeadLetterSink,
    ) -> None:
        self.config = config
        self.stats = JoinStats()
        self._codec = codec
        self._versions = versions
        self._lookup = lookup
        self._progress = progress
        self._writer = writer
        self._dead_letters = dead_letters
        self._consumer = BatchConsumer(
            settings,
            ConsumerConfig(
                group=config.group,
                topics=(settings.topic(config.stream, "shadow-predictions"),),
                batch_max=config.batch_max,
                instance_id=config.instance_id,
            ),
        )

    def run(self, stop: threading.Event, idle_exit_s: float | None = None) -> JoinStats:
        consumed = self._consumer.run(self._handle, stop, idle_exit_s)
        self.stats.batches = consumed.batches
        self.stats.retries = consumed.retries
        return self.stats

    def _handle(self, messages: list[Message]) -> Deliver:
        batch = decode_predictions(self._codec, self.config.model, messages)
        self.stats.received += len(batch)
        self.stats.other_models += batch.other_models
        pending = _Pending(batch, time.monotonic())
        return lambda: self._deliver(pending, messages)

    def _deliver(self, pending: _Pending, messages: list[Message]) -> None:
        if not pending.dead_letters_sent and pending.batch.failures:
            self._dead_letters.failed.clear()
            self._dead_letters.send_failures(messages, pending.batch.failures)
            self._dead_letters.flush()
            self.stats.dead_lettered += len(pending.batch.failures)
        pending.dead_letters_sent = True
        batch = pending.batch
        waiting = {
            event_id: i
            for i, event_id in enumerate(batch.event_ids)
            if event_id not in pending.champions and event_id not in pending.settled
        }
        passed: set[str] = set()
        if waiting:
            # Progress before lookup: a row the champion wrote before committing is then certainly visible.
            passed = self._passed(batch, waiting)
            keys = [(batch.entity_ids[i], batch.event_times[i], event_id) for event_id, i in waiting.items()]
            pending.champions.update(self._lookup.fetch(self._versions(), keys))
        self._write(pending)
        behind = [e for e in waiting if e not in pending.champions and e not in passed]
        if behind and time.monotonic() - pending.started < self.config.max_wait_s:
            raise ChampionBehindError(f"waiting for the champion's predictions of {len(behind)} events")
        self._give_up(pending, [e for e in waiting if e not in pending.champions], passed)

    def _passed(self, batch: ShadowPredictions, waiting: dict[str, int]) -> set[str]:
        sources = {e: batch.sources[i] for e, i in waiting.items()}
        committed = self._progress.committed([s[0] for s in sources.values() if s is not None])
        return {e for e, s in sources.items() if s is not None and committed.get(s[0], -1) > s[1]}

    def _write(self, pending: _Pending) -> None:
        batch, champions = pending.batch, pending.champions
        ready = [i for i in range(len(batch)) if i not in pending.written and batch.event_ids[i] in champions]
        if not ready:
            return
        rows = []
        for i in ready:
            champion = champions[batch.event_ids[i]]
            rows.append(
                JoinedRow(
                    batch.versions[i], batch.event_times[i], batch.event_ids[i], batch.entity_ids[i],
                    champion.version, champion.score, champion.scored_at, batch.scores[i], batch.scored_at[i],
                    batch.produced_at[i],
                )
            )  # fmt: skip
        self._writer.write(self.config.model, rows, int(time.time() * 1000))
        pending.written.update(ready)
        self.stats.joined += len(rows)
        _joined.add(len(rows), {"stream": self.config.stream, "model": self.config.model})

    def _give_up(self, pending: _Pending, events: list[str], passed: set[str]) -> None:
        if not events:
            return
        batch = pending.batch
        index = set(events)
        counts = {"champion_missing": 0, "unmatched": 0}
        for event_id in batch.event_ids:  # one count per challenger prediction, as joined counts are
            if event_id in index:
                counts["champion_missing" if event_id in passed else "unmatched"] += 1
        pending.settled.update(events)
        self.stats.champion_missing += counts["champion_missing"]
        self.stats.unmatched += counts["unmatched"]
        for reason, n in counts.items():
            if n:
                _unjoined.add(n, {"stream": self.config.stream, "model": self.config.model, "reason": reason})
        log.warning(
            "%d challenger predictions joined no champion prediction: %d the champion passed without scoring, "
            "%d still missing after %.0fs (first event %s)",
            sum(counts.values()), counts["champion_missing"], counts["unmatched"], self.config.max_wait_s, events[0],
        )  # fmt: skip


@contextmanager
def shadow_joiner(settings: Settings, config: JoinConfig) -> Iterator[ShadowJoiner]:
    """A joiner wired from settings: registry (champion versions), lookups, progress, writer, dead letters."""
    session = connect(settings, settings.keyspace)
    progress = ChampionProgress(settings, config.champions, settings.topic(config.stream, "events"))
    try:
        registry = Registry(session, open_artifact_store(settings))
        topic = settings.topic(config.stream, "shadow-predictions")
        yield ShadowJoiner(
            settings,
            config,
            AvroCodec(open_schema_store(settings), topic, schema_name(config.stream, "shadow-predictions")),
            ChampionVersions(registry, config.model, settings.model_poll_interval_s),
            ChampionLookup(session, settings.keyspace, config.model),
            progress,
            ResultsWriter(session, settings.keyspace),
            DeadLetterSink(settings, config.stream, config.group),
        )
    finally:
        progress.close()
        session.cluster.shutdown()
