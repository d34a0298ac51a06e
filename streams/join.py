"""Join of champion predictions, challenger predictions and late labels by event id, within a horizon.

Records come from three topics in any order. Each event waits in one entry until its label and the
predictions of the champion and of every active challenger have met; each (version, label) and each
(champion, challenger, label) combination is handed out exactly once, as soon as it is complete. An entry
leaves when complete, when it is older than the horizon in stream time (the largest event or label time
seen), or, oldest first, when more than ``max_pending`` entries wait; what leaves incomplete is counted by
reason, never dropped silently.

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
    __slots__ = ("alive", "challengers", "champion", "label", "time")

    def __init__(self, time: int) -> None:
        self.time = time  # event time, or the label time until a prediction gives the event time
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
    evicted: int = 0  # pushed out by max_pending before the horizon


class LabelJoin:
    def __init__(self, horizon_ms: int, max_pending: int) -> None:
        self.horizon_ms = horizon_ms
        self.max_pending = max_pending
        self.pending: dict[str, _Entry] = {}
        self.stream_time = -(2**62)
        self.counts = JoinCounts()
        self._active: dict[int, int] = {}  # challenger version -> last event time it scored
        self._waiting: dict[Source, deque[tuple[int, _Entry]]] = {}

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
            entry = self._entry(event_id, time, src, offset)
            entry.time = time
            if champion:
                if entry.champion is not None and entry.champion[0] == version:
                    continue  # redelivered: already joined
                entry.champion = (version, score, new)
                if entry.label is not None:
                    if entry.label[1] or new:
                        out.version(version, score, entry.label[0], time)
                    for other, (other_score, other_new) in entry.challengers.items():
                        if entry.label[1] or new or other_new:
                            out.pair((version, score), (other, other_score), entry.label[0], time)
            else:
                if version in entry.challengers:
                    continue  # redelivered: already joined
                self._active[version] = max(self._active.get(version, time), time)
                entry.challengers[version] = (score, new)
                if entry.label is not None:
                    if entry.label[1] or new:
                        out.version(version, score, entry.label[0], time)
                    held = entry.champion
                    if held is not None and (entry.label[1] or new or held[2]):
                        out.pair((held[0], held[1]), (version, score), entry.label[0], time)
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
            entry = self._entry(event_id, label_time, src, offset)
            self.stream_time = max(self.stream_time, label_time)
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
        entry = self.pending.get(event_id)
        if entry is None:
            entry = self.pending[event_id] = _Entry(time)
        self.stream_time = max(self.stream_time, time)
        self._waiting.setdefault(source, deque()).append((offset, entry))
        return entry

    def _settle(self, event_id: str, entry: _Entry) -> None:
        """Drop an entry once nothing more can join it: labelled, champion in, every active challenger in."""
        if entry.label is None or entry.champion is None:
            return
        cutoff = self.stream_time - self.horizon_ms
        if all(v in entry.challengers for v, seen in self._active.items() if seen >= cutoff):
            self._remove(event_id, entry)
            self.counts.completed += 1

    def _remove(self, event_id: str, entry: _Entry) -> None:
        entry.alive = False
        del self.pending[event_id]

    def _expire(self) -> None:
        cutoff = self.stream_time - self.horizon_ms
        # Entries are roughly in time order: look at the oldest only (an out-of-order one waits a little longer).
        while self.pending:
            event_id, entry = next(iter(self.pending.items()))
            if entry.time >= cutoff and len(self.pending) <= self.max_pending:
                break
            if entry.time >= cutoff:
                self.counts.evicted += 1
            elif entry.label is None:
                self.counts.expired_unlabelled += 1
            elif entry.champion is None and not entry.challengers:
                self.counts.expired_label_only += 1
            else:
                self.counts.completed += 1  # labelled, joined with what came; a sampled-out challenger is normal
            self._remove(event_id, entry)
        self._active = {v: t for v, t in self._active.items() if t >= cutoff}

    def low_water(self) -> dict[Source, int]:
        """Per source partition, the oldest offset that a waiting entry still needs."""
        low: dict[Source, int] = {}
        for source, queue in self._waiting.items():
            while queue and not queue[0][1].alive:
                queue.popleft()
            if queue:
                low[source] = queue[0][0]
        return low
