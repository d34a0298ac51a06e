"""Join of champion predictions, challenger predictions and late labels by event id, closed at a label horizon.

Why a horizon: labels arrive in an order that depends on the outcome (fraud is reported within hours,
legitimate events are confirmed after days). A test fed in label-arrival order sees mostly fraud first, and
one fed "every event whose label is in" sees a sample chosen by the outcome; either way a sequential test's
guarantee (exchangeable draws) is gone. So an event enters the tests only once its label horizon has closed,
``horizon_ms`` after its event time, with its label if one came with ``label_time <= event_time + horizon``
and ``default_label`` (the class that is never reported, e.g. "legitimate") otherwise. Which events are
tested, in which order (event time) and with which label never depends on when a label happened to arrive;
the price is that no event counts before its horizon has passed.

Time is stream time, never the wall clock: the labels' watermark (label time, per labels partition, less
``label_lateness_ms``) and the predictions' watermark (event time, per predictions partition, less
``prediction_lateness_ms``). An event closes when the first has passed its event time plus the horizon and
the second its event time; records that arrive for an already closed event are late and counted, never
joined. A restart restores the two watermarks with the statistics (``state``/``restore``) and re-reads from
``low_water``: a re-read record (``fresh`` false) is late only if its event was closed at the checkpoint, and
the caller closes nothing until the re-read is done, so every event is counted once.

Memory: every event waits a whole horizon. Beyond ``max_pending`` waiting events the join keeps a
deterministic hash sample of event ids (halving its rate each time it fills); the sample is independent of
outcomes and scores, so the tests stay unbiased, only slower. Whatever leaves untested is counted by reason.
"""

from __future__ import annotations

import heapq
import zlib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from streams.windows import Watermark, WindowSpec

Source = tuple[str, int]  # (topic kind, partition)
_LABELS = "labels"


class _Entry:
    __slots__ = ("alive", "challengers", "champion", "label", "time")

    def __init__(self) -> None:
        self.time: int | None = None  # event time, once a prediction tells it
        self.label: tuple[int, int] | None = None  # (label, label time)
        self.champion: tuple[int, float] | None = None  # (version, score)
        self.challengers: dict[int, float] = {}
        self.alive = True


@dataclass
class Joined:
    """Events closed by one call, in event-time order, as columns."""

    # version -> (scores, labels, event times): every version's predictions with their horizon label
    versions: dict[int, tuple[list[float], list[int], list[int]]] = field(default_factory=dict)
    # (champion, challenger) -> (champion scores, challenger scores, labels, event times)
    pairs: dict[tuple[int, int], tuple[list[float], list[float], list[int], list[int]]] = field(default_factory=dict)

    def version(self, version: int, score: float, label: int, time: int) -> None:
        scores, labels, times = self.versions.setdefault(version, ([], [], []))
        scores.append(score)
        labels.append(label)
        times.append(time)

    def pair(self, champion: tuple[int, float], challenger: tuple[int, float], label: int, time: int) -> None:
        a, b, labels, times = self.pairs.setdefault((champion[0], challenger[0]), ([], [], [], []))
        a.append(champion[1])
        b.append(challenger[1])
        labels.append(label)
        times.append(time)


@dataclass
class JoinCounts:
    closed: int = 0  # events that reached their horizon with a champion prediction
    labelled: int = 0  # of those, with a label by the horizon (the others took the default class)
    unpaired: int = 0  # closed without a champion prediction: nothing to compare
    late_predictions: int = 0  # predictions of an event already closed (or a redelivery after it closed)
    labels_after_horizon: int = 0  # labels later than event time + horizon: the default class stood
    expired_label_only: int = 0  # labels whose event was never scored
    sampled_out: int = 0  # events left out by the memory bound's hash sample
    duplicates: int = 0  # a second label, or a prediction redelivered while its event waited


@dataclass(frozen=True)
class HorizonSettings:
    horizon_ms: int
    max_pending: int
    default_label: int = 0
    label_lateness_ms: int = 3_600_000  # how far out of label-time order the labels topic may be
    prediction_lateness_ms: int = 600_000  # how far out of event-time order predictions may come
    track_offsets: bool = True  # for low_water (a caller that re-reads on restart); off: less work per record


class LabelJoin:
    def __init__(self, settings: HorizonSettings) -> None:
        self.settings = settings
        self.horizon_ms = settings.horizon_ms
        self._entries: dict[str, _Entry] = {}
        self._closing: list[tuple[int, int, str]] = []  # (event time, arrival, id): entries that know their time
        self._orphans: list[tuple[int, int, str]] = []  # (label time, arrival, id): labels still without an event
        self._arrivals = 0
        self._label_watermark = Watermark(WindowSpec.tumbling(1, settings.label_lateness_ms))
        self._prediction_watermark = Watermark(WindowSpec.tumbling(1, settings.prediction_lateness_ms))
        self.keep = 1.0  # share of event ids sampled in (see the module docstring)
        self._checkpoint_through: int | None = None  # closed_through when the restored state was saved
        self.counts = JoinCounts()
        self._sources: dict[Source, deque[tuple[int, _Entry]]] = {}

    @property
    def pending(self) -> dict[str, _Entry]:
        return self._entries

    def closed_through(self) -> int | None:
        """The newest event time whose horizon has closed; None until both watermarks exist."""
        labels, predictions = self._label_watermark.value_ms, self._prediction_watermark.value_ms
        if labels is None or predictions is None:
            return None
        return min(labels - self.horizon_ms, predictions)

    def expect(self, sources: Sequence[Source]) -> None:
        """Partitions that hold the watermarks back until they deliver (or are caught up)."""
        for kind, partition in sources:
            self._watermark(kind).expect([self._key(kind, partition)])

    def idle(self, kind: str, partition: int) -> None:
        """The partition is caught up: it no longer holds its watermark back."""
        self._watermark(kind).mark_idle(self._key(kind, partition))

    def predictions(
        self,
        source: Sequence[Source],
        offsets: Sequence[int],
        event_ids: Sequence[str],
        versions: Sequence[int],
        scores: Sequence[float],
        times: Sequence[int],
        champion: bool,
        fresh: Sequence[bool] | None = None,
    ) -> None:
        through, restored = self.closed_through(), self._checkpoint_through
        for i, (src, offset, event_id, version, score, time) in enumerate(
            zip(source, offsets, event_ids, versions, scores, times, strict=True)
        ):
            entry = self._entries.get(event_id)
            if entry is None or entry.time is None:
                limit = through if fresh is None or fresh[i] else restored
                if limit is not None and time <= limit:
                    self.counts.late_predictions += 1
                    continue
                if not self._sampled(event_id):
                    continue
            entry = self._entry(event_id, src, offset)
            if entry.time is None:
                entry.time = time
                self._arrivals += 1
                heapq.heappush(self._closing, (time, self._arrivals, event_id))
            if champion:
                if entry.champion is not None:
                    self.counts.duplicates += 1
                    continue
                entry.champion = (version, score)
            elif version in entry.challengers:
                self.counts.duplicates += 1
            else:
                entry.challengers[version] = score
        self._advance(self._prediction_watermark, source, times)

    def labels(
        self,
        source: Sequence[Source],
        offsets: Sequence[int],
        event_ids: Sequence[str],
        labels: Sequence[int],
        label_times: Sequence[int],
    ) -> None:
        for src, offset, event_id, label, label_time in zip(
            source, offsets, event_ids, labels, label_times, strict=True
        ):
            entry = self._entries.get(event_id)
            if entry is None:
                if not self._sampled(event_id):
                    continue
                entry = self._entry(event_id, src, offset)
                self._arrivals += 1
                heapq.heappush(self._orphans, (label_time, self._arrivals, event_id))
            elif entry.label is not None:
                self.counts.duplicates += 1  # a redelivered or duplicate label: the first one stands
                continue
            else:
                self._track(entry, src, offset)
            entry.label = (label, label_time)
        self._advance(self._label_watermark, source, label_times)

    def close(self) -> Joined:
        """Hand out every event whose horizon has closed, in event-time order."""
        out = Joined()
        through = self.closed_through()
        if through is None:
            return out
        horizon, default = self.horizon_ms, self.settings.default_label
        while self._closing and self._closing[0][0] <= through:
            time, _, event_id = heapq.heappop(self._closing)
            entry = self._entries.pop(event_id, None)
            if entry is None or not entry.alive:
                continue
            entry.alive = False
            label = default
            if entry.label is not None:
                if entry.label[1] <= time + horizon:
                    label = entry.label[0]
                    self.counts.labelled += 1
                else:
                    self.counts.labels_after_horizon += 1
            held = entry.champion
            if held is None:
                self.counts.unpaired += 1
            else:
                self.counts.closed += 1
                out.version(held[0], held[1], label, time)
            for version, score in entry.challengers.items():
                out.version(version, score, label, time)
                if held is not None:
                    out.pair(held, (version, score), label, time)
        # A label whose event has not shown up by the time any prediction of it would be late has no event.
        while self._orphans and self._orphans[0][0] <= through:
            _, _, event_id = heapq.heappop(self._orphans)
            entry = self._entries.get(event_id)
            if entry is not None and entry.time is None:
                del self._entries[event_id]
                entry.alive = False
                self.counts.expired_label_only += 1
        return out

    def low_water(self) -> dict[Source, int]:
        """Per source partition, the oldest offset that a waiting entry still needs."""
        low: dict[Source, int] = {}
        for source, queue in self._sources.items():
            while queue and not queue[0][1].alive:
                queue.popleft()
            if queue:
                low[source] = queue[0][0]
        return low

    def state(self) -> dict[str, Any]:
        """The watermarks and the sample rate: what a restart needs so that closed events stay closed."""
        return {
            "labels": self._label_watermark.value_ms,
            "predictions": self._prediction_watermark.value_ms,
            "keep": self.keep,
        }

    def restore(self, state: dict[str, Any]) -> None:
        self._label_watermark.value_ms = state.get("labels")
        self._prediction_watermark.value_ms = state.get("predictions")
        self.keep = float(state.get("keep", 1.0))
        self._checkpoint_through = self.closed_through()

    def _watermark(self, kind: str) -> Watermark:
        return self._label_watermark if kind == _LABELS else self._prediction_watermark

    @staticmethod
    def _key(kind: str, partition: int) -> int:
        # One watermark over both prediction topics: a partition's key keeps the topics apart.
        return partition if kind == _LABELS else (zlib.crc32(kind.encode()) << 20) + partition

    def _advance(self, watermark: Watermark, source: Sequence[Source], times: Sequence[int]) -> None:
        if len(times):
            known = {src: self._key(*src) for src in set(source)}
            keys = np.fromiter((known[src] for src in source), dtype=np.int64, count=len(source))
            watermark.advance(np.asarray(times, dtype=np.int64), keys)

    def _sampled(self, event_id: str) -> bool:
        if self.keep >= 1.0 or zlib.crc32(event_id.encode()) < self.keep * 2**32:
            return True
        self.counts.sampled_out += 1
        return False

    def _entry(self, event_id: str, source: Source, offset: int) -> _Entry:
        entry = self._entries.get(event_id)
        if entry is None:
            if len(self._entries) >= self.settings.max_pending:
                self._thin()
            entry = self._entries[event_id] = _Entry()
        self._track(entry, source, offset)
        return entry

    def _track(self, entry: _Entry, source: Source, offset: int) -> None:
        if not self.settings.track_offsets:
            return
        queue = self._sources.get(source)
        if queue is None:
            queue = self._sources[source] = deque()
        queue.append((offset, entry))

    def _thin(self) -> None:
        """Halve the hash sample until the waiting entries fit again (never below one event in 2**20)."""
        while len(self._entries) >= self.settings.max_pending and self.keep > 2**-20:
            self.keep /= 2
            bound = self.keep * 2**32
            for event_id in [e for e in self._entries if zlib.crc32(e.encode()) >= bound]:
                self._entries.pop(event_id).alive = False
                self.counts.sampled_out += 1
