"""Join of champion predictions, challenger predictions and late labels by event id, within a horizon.

Records come from three topics in any order. Each event waits in one entry until its label and the
predictions of the champion and of every active challenger (one that scored within the horizon) have met;
each (version, label) and each (champion, challenger, label) combination is handed out exactly once, as soon
as it is complete. An entry without its label, or with a label but no champion prediction yet, waits up to
``horizon_ms`` of stream time (the largest event or label time seen); once label and champion have met it
waits only ``grace_ms`` more for challengers that are late or that sampled the event out. Beyond
``max_pending`` entries the oldest leave first. Whatever leaves incomplete is counted by reason, never
dropped silently. A completed event's id is remembered for the grace too, so a duplicate prediction or label
(a producer retry, a scorer's redelivery) arriving then is ignored rather than joined twice.

Restarts: every record carries ``fresh`` (false for records re-read after a restart that the checkpointed
statistics already include); a combination is handed out only if at least one of its records is fresh, so
re-reading never counts a pair twice. ``low_water`` gives, per source partition, the oldest offset still
waiting: committing it lets a restart rebuild exactly the waiting entries.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

Source = tuple[str, int]  # (topic kind, partition)


class _Entry:
    __slots__ = ("alive", "anchor", "challengers", "champion", "label", "time")

    def __init__(self, time: int) -> None:
        self.time = time  # event time (the label time until a prediction tells the event time)
        self.anchor = time  # stream time its wait is measured from
        self.label: tuple[int, bool] | None = None  # (label, fresh)
        self.champion: tuple[int, float, bool] | None = None  # (version, score, fresh)
        self.challengers: dict[int, tuple[float, bool]] = {}
        self.alive = True


@dataclass
class Joined:
    """Completions of one call, as columns."""

    # version -> (scores, labels, event times): every version's labelled predictions
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
    completed: int = 0
    expired_unlabelled: int = 0  # predictions whose label never came within the horizon
    expired_label_only: int = 0  # labels whose event was never scored (or scored beyond the horizon)
    duplicates: int = 0  # records of an event completed within the grace, ignored
    evicted: int = 0  # pushed out by max_pending before the horizon


class LabelJoin:
    def __init__(self, horizon_ms: int, max_pending: int, grace_ms: int = 600_000) -> None:
        self.horizon_ms = horizon_ms
        self.grace_ms = grace_ms
        self.max_pending = max_pending
        # Two queues in arrival order, each with its own wait, so a short wait never queues behind a long one.
        self._waiting: dict[str, _Entry] = {}  # label or champion still missing: up to the horizon
        self._joined: dict[str, _Entry] = {}  # label and champion in: up to the grace, for late challengers
        self._done: dict[str, int] = {}  # completed event id -> stream time of completion, kept for the grace
        self.stream_time = -(2**62)
        self.counts = JoinCounts()
        self._active: dict[int, int] = {}  # challenger version -> last event time it scored
        self._sources: dict[Source, deque[tuple[int, _Entry]]] = {}

    @property
    def pending(self) -> dict[str, _Entry]:
        return self._waiting | self._joined

    def expect(self, challengers: Sequence[int]) -> None:
        """Challenger versions known to be scoring (from the registry), before their first prediction is seen."""
        for version in challengers:
            self._active.setdefault(version, self.stream_time)

    def predictions(
        self,
        source: Sequence[Source],
        offsets: Sequence[int],
        event_ids: Sequence[str],
        versions: Sequence[int],
        scores: Sequence[float],
        times: Sequence[int],
        champion: bool,
        fresh: Sequence[bool],
    ) -> Joined:
        out = Joined()
        for src, offset, event_id, version, score, time, new in zip(
            source, offsets, event_ids, versions, scores, times, fresh, strict=True
        ):
            if event_id in self._done:
                self.counts.duplicates += 1
                continue
            entry = self._entry(event_id, time, src, offset)
            entry.time = time
            label = entry.label
            if champion:
                if entry.champion is not None and entry.champion[0] == version:
                    continue  # redelivered: already joined
                entry.champion = (version, score, new)
                if label is not None:
                    if label[1] or new:
                        out.version(version, score, label[0], time)
                    for other, (other_score, other_new) in entry.challengers.items():
                        if label[1] or new or other_new:
                            out.pair((version, score), (other, other_score), label[0], time)
            else:
                if version in entry.challengers:
                    continue  # redelivered: already joined
                if time > self._active.get(version, time - 1):
                    self._active[version] = time
                entry.challengers[version] = (score, new)
                if label is not None:
                    if label[1] or new:
                        out.version(version, score, label[0], time)
                    held = entry.champion
                    if held is not None and (label[1] or new or held[2]):
                        out.pair((held[0], held[1]), (version, score), label[0], time)
            self._settle(event_id, entry)
        self._expire()
        return out

    def labels(
        self,
        source: Sequence[Source],
        offsets: Sequence[int],
        event_ids: Sequence[str],
        labels: Sequence[int],
        label_times: Sequence[int],
        fresh: Sequence[bool],
    ) -> Joined:
        out = Joined()
        for src, offset, event_id, label, label_time, new in zip(
            source, offsets, event_ids, labels, label_times, fresh, strict=True
        ):
            if event_id in self._done:
                self.counts.duplicates += 1
                continue
            entry = self._entry(event_id, label_time, src, offset)
            if entry.label is not None:
                continue  # a redelivered or duplicate label: the first one stands
            entry.label = (label, new)
            champion = entry.champion
            if champion is not None and (new or champion[2]):
                out.version(champion[0], champion[1], label, entry.time)
            for version, (score, other_new) in entry.challengers.items():
                if new or other_new:
                    out.version(version, score, label, entry.time)
                if champion is not None and (new or other_new or champion[2]):
                    out.pair((champion[0], champion[1]), (version, score), label, entry.time)
            self._settle(event_id, entry)
        self._expire()
        return out

    def _entry(self, event_id: str, time: int, source: Source, offset: int) -> _Entry:
        self.stream_time = max(self.stream_time, time)
        entry = self._waiting.get(event_id) or self._joined.get(event_id)
        if entry is None:
            entry = self._waiting[event_id] = _Entry(time)
        queue = self._sources.get(source)
        if queue is None:
            queue = self._sources[source] = deque()
        queue.append((offset, entry))
        return entry

    def _settle(self, event_id: str, entry: _Entry) -> None:
        """Move an entry on once label and champion have met; drop it once every active challenger is in too."""
        if entry.label is None or entry.champion is None:
            return
        cutoff = self.stream_time - self.horizon_ms
        active = [v for v, seen in self._active.items() if seen >= cutoff]
        # With no challenger known yet (a cold start), wait the grace anyway: one may be about to show up.
        if active and all(v in entry.challengers for v in active):
            self._waiting.pop(event_id, None)
            self._joined.pop(event_id, None)
            entry.alive = False
            self.counts.completed += 1
            self._done[event_id] = self.stream_time
        elif event_id in self._waiting:
            del self._waiting[event_id]
            entry.anchor = self.stream_time
            self._joined[event_id] = entry

    def _expire(self) -> None:
        for queue, wait in ((self._waiting, self.horizon_ms), (self._joined, self.grace_ms)):
            cutoff = self.stream_time - wait
            # Entries are roughly in anchor order: look at the oldest only (an out-of-order one waits a bit longer).
            while queue:
                event_id, entry = next(iter(queue.items()))
                if entry.anchor >= cutoff:
                    break
                self._leave(queue, event_id, entry)
        grace = self.stream_time - self.grace_ms
        while self._done and (next(iter(self._done.values())) < grace or len(self._done) > self.max_pending):
            del self._done[next(iter(self._done))]
        while len(self._waiting) + len(self._joined) > self.max_pending:
            queue = self._waiting if self._waiting else self._joined
            event_id, entry = next(iter(queue.items()))
            self.counts.evicted += 1
            self._leave(queue, event_id, entry, evicted=True)
        horizon = self.stream_time - self.horizon_ms
        self._active = {v: t for v, t in self._active.items() if t >= horizon}

    def _leave(self, queue: dict[str, _Entry], event_id: str, entry: _Entry, evicted: bool = False) -> None:
        del queue[event_id]
        entry.alive = False
        if evicted:
            return
        if entry.label is not None and entry.champion is not None:
            self._done[event_id] = self.stream_time
        if entry.label is None:
            self.counts.expired_unlabelled += 1
        elif entry.champion is None and not entry.challengers:
            self.counts.expired_label_only += 1
        else:
            self.counts.completed += 1  # joined with what came: a challenger that sampled the event out is normal

    def low_water(self) -> dict[Source, int]:
        """Per source partition, the oldest offset that a waiting entry still needs."""
        low: dict[Source, int] = {}
        for source, queue in self._sources.items():
            while queue and not queue[0][1].alive:
                queue.popleft()
            if queue:
                low[source] = queue[0][0]
        return low
