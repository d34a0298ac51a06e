"""The shadow joiner: challenger predictions joined with the champion's prediction of the same event.

Where the join happens, and why: for each challenger prediction (``<stream>.shadow-predictions``) the joiner
takes the champion's prediction of the same event from Cassandra, where the champion scorer wrote it before
committing, by primary key (shadow.champion), and upserts one joined row per (challenger version, event)
(shadow.results). The champion's side is durable there, so the joiner holds no pending state that a restart
could lose: a batch is handled once, delivered (retried) and only then committed, like every other
consumer. A two-topic join would have to keep unmatched sides in memory past their commit, or persist them.

The same consumer also reads ``<stream>.predictions``, but only to warm a bounded cache of champion scores:
the champion's record is produced after its row is acknowledged and usually before the challenger's, so
most lookups cost no Cassandra read (point reads were the joiner's bottleneck: about 1k/s on a loaded
2-core box). A cache miss (a restart, a lagging champion, another joiner instance holding that partition)
falls back to the read; correctness never depends on the cache.

When the champion is behind, a challenger prediction waits: delivery raises ``ChampionBehindError`` and the
BatchConsumer retries with backoff (nothing new is consumed meanwhile, so memory stays one batch). It stops
waiting for an event once the champion's group has committed past it (the champion did not score it:
``champion_missing``) or after ``max_wait_s`` (``unmatched``); both are counted and logged, never silent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from confluent_kafka import Message

from schemas.codec import AvroCodec
from scorecast.batch_consumer import Deliver
from scorecast.errors import ScorecastError
from scorecast.telemetry import get_meter
from scorers.worker import WorkerConfig
from shadow.champion import ChampionScore
from shadow.records import ShadowPredictions, decode_champions, decode_predictions
from shadow.results import JoinedRow

log = logging.getLogger(__name__)
meter = get_meter("scorecast.shadow")
_joined = meter.create_counter("scorecast_shadow_joined", unit="1", description="challenger predictions joined")
_unjoined = meter.create_counter(
    "scorecast_shadow_unjoined", unit="1", description="challenger predictions without a champion prediction"
)
_RECENT = 100_000  # about 25 MB


class ChampionBehindError(ScorecastError):
    """Some champion predictions of a batch are not written yet; the batch is retried."""


class Lookup(Protocol):
    def fetch(self, versions: Sequence[int], keys: Sequence[tuple[str, int, str]]) -> dict[str, ChampionScore]: ...


class Progress(Protocol):
    def committed(self, partitions: Sequence[int]) -> dict[int, int]: ...


class Writer(Protocol):
    def write(self, model: str, rows: list[JoinedRow], joined_at_ms: int) -> None: ...


class DeadLetters(Protocol):
    failed: list[str]

    def send_failures(self, messages: Sequence[Message], failures: Sequence[Any]) -> Any: ...

    def flush(self, timeout: float = 30.0) -> None: ...


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
    received: int = 0  # challenger predictions of this model
    champion_records: int = 0  # champion predictions seen on the predictions topic (cache warming)
    champion_reads: int = 0  # champion predictions read from Cassandra (cache misses)
    joined: int = 0
    champion_missing: int = 0  # the champion passed the event without scoring it
    unmatched: int = 0  # no champion prediction within max_wait_s
    dead_lettered: int = 0
    other_models: int = 0
    undecodable_champion_records: int = 0  # left on their topic: the champion's rows in Cassandra still count
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


class JoinHandler:
    """The BatchConsumer handler: ``handler(messages)`` decodes once and returns the retried delivery."""

    def __init__(
        self,
        config: JoinConfig,
        codec: AvroCodec,
        champion_topic: str,
        versions: Callable[[], list[int]],
        lookup: Lookup,
        progress: Progress,
        writer: Writer,
        dead_letters: DeadLetters,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.stats = JoinStats()
        self._codec = codec
        self._champion_topic = champion_topic
        self._versions = versions
        self._lookup = lookup
        self._progress = progress
        self._writer = writer
        self._dead_letters = dead_letters
        self._clock = clock
        # Champion scores seen on the predictions topic or read lately, oldest first, bounded.
        self._recent: dict[str, ChampionScore] = {}

    def __call__(self, messages: list[Message]) -> Deliver:
        champion = self._champion_topic
        champions, bad = decode_champions(
            self._codec, self.config.model, [m for m in messages if m.topic() == champion]
        )
        self._remember(champions)
        self.stats.champion_records += len(champions)
        self.stats.undecodable_champion_records += bad
        shadow = [m for m in messages if m.topic() != champion]
        batch = decode_predictions(self._codec, self.config.model, shadow)
        self.stats.received += len(batch)
        self.stats.other_models += batch.other_models
        pending = _Pending(batch, self._clock())
        return lambda: self._deliver(pending, shadow)

    def _deliver(self, pending: _Pending, messages: list[Message]) -> None:
        if not pending.dead_letters_sent and pending.batch.failures:
            self._dead_letters.failed.clear()
            self._dead_letters.send_failures(messages, pending.batch.failures)
            self._dead_letters.flush()
            self.stats.dead_lettered += len(pending.batch.failures)
        pending.dead_letters_sent = True
        batch = pending.batch
        waiting: dict[str, int] = {}
        for i, event_id in enumerate(batch.event_ids):
            if event_id in pending.champions or event_id in pending.settled:
                continue
            known = self._recent.get(event_id)
            if known is not None:
                pending.champions[event_id] = known
            else:
                waiting[event_id] = i
        passed: set[str] = set()
        if waiting:
            # Progress before lookup: a row the champion wrote before committing is then certainly visible.
            passed = self._passed(batch, waiting)
            keys = [(batch.entity_ids[i], batch.event_times[i], event_id) for event_id, i in waiting.items()]
            found = self._lookup.fetch(self._versions(), keys)
            self.stats.champion_reads += len(keys)
            pending.champions.update(found)
            self._remember(found)
        self._write(pending)
        behind = [e for e in waiting if e not in pending.champions and e not in passed]
        if behind and self._clock() - pending.started < self.config.max_wait_s:
            raise ChampionBehindError(f"waiting for the champion's predictions of {len(behind)} events")
        self._give_up(pending, [e for e in waiting if e not in pending.champions], passed)

    def _remember(self, found: dict[str, ChampionScore]) -> None:
        self._recent.update(found)
        while len(self._recent) > _RECENT:
            del self._recent[next(iter(self._recent))]

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
