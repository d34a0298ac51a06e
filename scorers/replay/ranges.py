"""Resolve ``--from``/``--to`` to explicit per-partition offsets ``[start, end)``, refusing bad ranges.

Resolution asks a ``TopicView`` (the Kafka adapter is ``reader.KafkaTopicView``) for watermarks, for
``offsets_for_times`` and for the record timestamp at an offset, so the rules below are tested without Kafka:
- times resolve to the first offset whose record timestamp is at or after the time (the end when none is);
- an offset below a partition's earliest retained offset, or a start time older than the earliest retained
  record of a partition that retention has trimmed, is refused: part of the range is gone;
- an offset beyond a partition's end is refused; ``latest`` and times past the end stop at the end as of now,
  so a resumed replay reads exactly what the first run resolved;
- ``--from`` after ``--to`` and an empty range are refused.
The resolved range also carries its record-time span, which bounds where its labels are read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from scorers.replay.bounds import Bound, EdgeBound, OffsetBound, TimeBound, describe
from scorers.replay.errors import ReplayError

FAR_FUTURE_MS = 2**53  # a time after every record: offsets_for_times answers "the end"


class TopicView(Protocol):
    topic: str

    def partitions(self) -> tuple[int, ...]: ...
    def watermarks(self, partition: int) -> tuple[int, int]: ...
    def offsets_for_time(self, ms: int) -> dict[int, int]: ...  # -1: no record at or after ms
    def timestamps(self, offsets: dict[int, int]) -> dict[int, int]: ...  # record timestamp at each offset


@dataclass(frozen=True)
class PartitionRange:
    partition: int
    start: int
    end: int  # exclusive

    @property
    def events(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class ReplayRange:
    topic: str
    partitions: tuple[PartitionRange, ...]
    start_ms: int  # record time of the first event in the range (or --from)
    end_ms: int  # record time just past the last event (or --to)

    @property
    def events(self) -> int:
        """Offsets in the range (every one is an event unless the topic is compacted or transactional)."""
        return sum(p.events for p in self.partitions)

    def to_json(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "partitions": [[p.partition, p.start, p.end] for p in self.partitions],
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReplayRange:
        parts = tuple(PartitionRange(p, s, e) for p, s, e in data["partitions"])
        return cls(data["topic"], parts, data["start_ms"], data["end_ms"])


def resolve(view: TopicView, start: Bound, end: Bound) -> ReplayRange:
    if isinstance(start, TimeBound) and isinstance(end, TimeBound) and start.ms > end.ms:
        raise ReplayError(f"--from {describe(start)} is after --to {describe(end)}")
    partitions = _partitions(view, start, end)
    marks = {p: view.watermarks(p) for p in partitions}
    starts = _offsets(view, start, "--from", partitions, marks)
    ends = _offsets(view, end, "--to", partitions, marks)
    _check_retention(view, start, starts, marks)
    ranges = []
    for p in partitions:
        if starts[p] > ends[p]:
            raise ReplayError(
                f"--from {describe(start)} is after --to {describe(end)} on partition {p} "
                f"(offset {starts[p]} > {ends[p]})"
            )
        ranges.append(PartitionRange(p, starts[p], ends[p]))
    if sum(r.events for r in ranges) == 0:
        raise ReplayError(f"empty range: no events from {describe(start)} to {describe(end)} on {view.topic}")
    return ReplayRange(view.topic, tuple(ranges), *_span(view, start, end, ranges))


def _partitions(view: TopicView, start: Bound, end: Bound) -> tuple[int, ...]:
    existing = view.partitions()
    named = [b.partitions for b in (start, end) if isinstance(b, OffsetBound) and b.partitions is not None]
    if len(named) == 2 and named[0] != named[1]:
        raise ReplayError(f"--from names partitions {list(named[0])} but --to names {list(named[1])}")
    chosen = named[0] if named else existing
    unknown = sorted(set(chosen) - set(existing))
    if unknown:
        raise ReplayError(f"{view.topic} has no partition {unknown[0]} (it has {len(existing)})")
    return tuple(chosen)


def _offsets(
    view: TopicView, bound: Bound, option: str, partitions: tuple[int, ...], marks: dict[int, tuple[int, int]]
) -> dict[int, int]:
    if isinstance(bound, EdgeBound):
        return {p: marks[p][0] if bound.edge == "earliest" else marks[p][1] for p in partitions}
    if isinstance(bound, TimeBound):
        found = view.offsets_for_time(bound.ms)
        return {p: found[p] if found.get(p, -1) >= 0 else marks[p][1] for p in partitions}
    offsets = {}
    for p in partitions:
        offset = bound.offset(p)
        assert offset is not None  # _partitions kept only the partitions the list names
        low, high = marks[p]
        if offset < low:
            raise ReplayError(
                f"{option} offset {offset} on partition {p} of {view.topic} is outside retention "
                f"(earliest retained offset is {low})"
            )
        if offset > high:
            raise ReplayError(f"{option} offset {offset} on partition {p} of {view.topic} is beyond its end ({high})")
        offsets[p] = offset
    return offsets


def _check_retention(view: TopicView, start: Bound, starts: dict[int, int], marks: dict[int, tuple[int, int]]) -> None:
    """A start time before the earliest retained record of a trimmed partition: the range's head is gone."""
    if not isinstance(start, TimeBound):
        return
    trimmed = {p: o for p, o in starts.items() if o == marks[p][0] > 0 and marks[p][1] > o}
    for p, first_ms in sorted(view.timestamps(trimmed).items()):
        if first_ms > start.ms:
            raise ReplayError(
                f"--from {describe(start)} is outside retention: partition {p} of {view.topic} now starts at "
                f"{describe(TimeBound(first_ms, ''))} (offset {trimmed[p]}); older events were deleted"
            )


def _span(view: TopicView, start: Bound, end: Bound, ranges: list[PartitionRange]) -> tuple[int, int]:
    """Record-time span of the range: the time bounds when given, else the first and last records' times."""
    filled = [r for r in ranges if r.events > 0]
    if isinstance(start, TimeBound):
        start_ms = start.ms
    else:  # unreadable (only markers there): 0, so no label of the range can be missed
        start_ms = min(view.timestamps({r.partition: r.start for r in filled}).values(), default=0)
    if isinstance(end, TimeBound):
        end_ms = end.ms
    else:
        last = view.timestamps({r.partition: r.end - 1 for r in filled}).values()
        end_ms = max(last) + 1 if last else FAR_FUTURE_MS
    return start_ms, max(end_ms, start_ms)
