"""The ``--from`` / ``--to`` grammar of a replay range, parsed without touching Kafka.

A bound is one of:
- a time: ISO-8601 (``2026-01-05T10:00:00Z``; no zone means UTC) or epoch milliseconds (an integer of at
  least 11 digits, i.e. from 1973 on), compared with the Kafka record timestamps;
- offsets: one offset for every partition (an integer below 10^11), or a per-partition list ``0:1200,1:1180``;
- ``earliest`` / ``latest``: the first retained offset, or the end of each partition when the replay starts.

A range is half-open: ``--from`` is included, ``--to`` is not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from scorers.replay.errors import ReplayError

EPOCH_MS_MIN = 10**11  # smaller plain integers are offsets: 10^11 ms is March 1973, older than any topic


@dataclass(frozen=True)
class TimeBound:
    ms: int
    text: str


@dataclass(frozen=True)
class OffsetBound:
    every: int | None = None  # one offset for all partitions
    offsets: tuple[tuple[int, int], ...] = ()  # (partition, offset) pairs, sorted by partition

    def offset(self, partition: int) -> int | None:
        if self.every is not None:
            return self.every
        return dict(self.offsets).get(partition)

    @property
    def partitions(self) -> tuple[int, ...] | None:
        """The partitions a per-partition list names; None when it holds one offset for all."""
        return None if self.every is not None else tuple(p for p, _ in self.offsets)


@dataclass(frozen=True)
class EdgeBound:
    edge: Literal["earliest", "latest"]


Bound = TimeBound | OffsetBound | EdgeBound


def parse_bound(text: str, option: str) -> Bound:
    """One ``--from``/``--to`` value; raises ReplayError naming ``option`` when it is none of the forms."""
    value = text.strip()
    if value in ("earliest", "latest"):
        return EdgeBound(value)  # type: ignore[arg-type]
    if value.isdigit():
        number = int(value)
        return TimeBound(number, value) if number >= EPOCH_MS_MIN else OffsetBound(every=number)
    if ":" in value and all(_is_pair(part) for part in value.split(",")):
        return _offsets(value, option)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ReplayError(
            f"{option} {text!r} is neither a time (ISO-8601 or epoch ms), an offset, a p:offset list, "
            "earliest nor latest"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return TimeBound(int(moment.timestamp() * 1000), value)


def _is_pair(part: str) -> bool:
    partition, sep, offset = part.strip().partition(":")
    return bool(sep) and partition.isdigit() and offset.isdigit()


def _offsets(value: str, option: str) -> OffsetBound:
    pairs: dict[int, int] = {}
    for part in value.split(","):
        partition, _, offset = part.strip().partition(":")
        if int(partition) in pairs:
            raise ReplayError(f"{option} names partition {partition} twice")
        pairs[int(partition)] = int(offset)
    return OffsetBound(offsets=tuple(sorted(pairs.items())))


def describe(bound: Bound) -> str:
    """The bound as a user wrote it, for messages."""
    if isinstance(bound, TimeBound):
        return datetime.fromtimestamp(bound.ms / 1000, UTC).isoformat(timespec="milliseconds")
    if isinstance(bound, EdgeBound):
        return bound.edge
    if bound.every is not None:
        return f"offset {bound.every}"
    return ",".join(f"{p}:{o}" for p, o in bound.offsets)


_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)?")


def parse_duration(text: str, option: str) -> int:
    """``7d``, ``12h``, ``30m``, ``90s``, ``500ms`` or plain milliseconds, as milliseconds."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise ReplayError(f"{option} {text!r} is not a duration (e.g. 7d, 12h, 30m, 90s)")
    return int(float(match[1]) * _UNITS[match[2] or "ms"])
