"""The rules every event obeys beyond its Avro types, defined once for every side that checks them.

The producer SDK refuses a record that breaks them (RecordValidationError naming the field), the scorer's
decoder dead-letters it (a DecodeFailure with one of the reason codes below; schemas.batch applies the same
constants over numpy columns) and the lookup API accepts exactly the entity ids allowed here, so every stored
row can be looked up.

- ``entity_id`` and ``event_id``: 1-128 characters of ``A-Z a-z 0-9 _ . : @ -`` (the lookup key's charset;
  event ids are UUIDs or similar and join labels and shadow results, so they follow the same rule).
- ``event_time``: from 2000-01-01T00:00:00Z to now + the allowed clock skew (``Settings.max_clock_skew_s``):
  a far-future time would pin "latest" for its entity forever, and times beyond year 9999 break readers; a
  time before 2000 is almost always a missing value written as 0 or a seconds/milliseconds mix-up.
- every string is valid UTF-8; every feature is finite as float32, the type the models read (1e308 is a
  finite double but infinite as float32).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scorecast.settings import Settings

ID_CHARACTERS = "A-Za-z0-9_.:@-"
ID_MAX_LENGTH = 128
ID = re.compile(f"[{ID_CHARACTERS}]{{1,{ID_MAX_LENGTH}}}")
ID_BYTES = bytes(b for b in range(128) if ID.fullmatch(chr(b)))  # the allowed characters, all ASCII
_valid_id = ID.fullmatch
ID_RULE = f"1-{ID_MAX_LENGTH} characters of letters, digits, '_', '.', ':', '@', '-'"
ID_FIELDS = ("entity_id", "event_id")

MIN_EVENT_TIME_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
MAX_EVENT_TIME_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, the last instant Python's datetime holds
DEFAULT_MAX_CLOCK_SKEW_S = 300.0
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_FIRST_DATETIME_MS = -62_135_596_800_000  # 0001-01-01T00:00:00Z
# float64 values from here up round to float32 infinity (halfway between the largest float32 and 2**128).
FLOAT32_LIMIT = 2.0**128 - 2.0**103

# Reason codes of the scorer's dead letters (scorecast.dlq.reason).
INVALID_ENTITY_ID = "invalid-entity-id"
INVALID_EVENT_ID = "invalid-event-id"
EVENT_TIME_OUT_OF_RANGE = "event-time-out-of-range"
INVALID_UTF8 = "invalid-utf8"
NON_FINITE_FEATURE = "non-finite-feature"
ID_REASONS = {"entity_id": INVALID_ENTITY_ID, "event_id": INVALID_EVENT_ID}


@dataclass(frozen=True)
class Violation:
    field: str
    reason: str  # one of the codes above
    detail: str


def id_problem(value: object) -> str | None:
    """What is wrong with an entity or event id, or None if it is valid."""
    if isinstance(value, bytes):
        try:
            value = value.decode()
        except UnicodeDecodeError:
            return "not valid UTF-8"
    if not isinstance(value, str):
        return f"expected a string, got {type(value).__name__}"
    if ID.fullmatch(value):
        return None
    if not value:
        return f"empty; ids are {ID_RULE}"
    if len(value) > ID_MAX_LENGTH:
        return f"{len(value)} characters; ids are {ID_RULE}"
    bad = next(c for c in value if not ID.fullmatch(c))
    return f"{_preview(value)} has {bad!r}; ids are {ID_RULE}"


def fits_float32(value: float) -> bool:
    """Whether a number is finite once read as float32 (NaN and infinities are not)."""
    return abs(value) < FLOAT32_LIMIT


def is_utf8(value: str) -> bool:
    """Whether a str can be written as UTF-8 (not a lone surrogate, as JSON's "\\ud800" gives)."""
    if value.isascii():
        return True
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True)
class EventRules:
    """The rules with their one setting, the allowed clock skew; ``clock`` gives now in epoch seconds."""

    max_clock_skew_s: float = DEFAULT_MAX_CLOCK_SKEW_S
    clock: Callable[[], float] = time.time

    @classmethod
    def of(cls, settings: Settings) -> EventRules:
        return cls(max_clock_skew_s=settings.max_clock_skew_s)

    def event_time_bounds(self) -> tuple[int, int]:
        """The inclusive range of valid event times in epoch milliseconds, as of now."""
        latest = int((self.clock() + self.max_clock_skew_s) * 1000)
        return MIN_EVENT_TIME_MS, latest if latest < MAX_EVENT_TIME_MS else MAX_EVENT_TIME_MS

    def event_time_problem(self, millis: int, bounds: tuple[int, int]) -> str | None:
        low, high = bounds
        if low <= millis <= high:
            return None
        when = _iso(millis)
        if millis < low:
            return f"{when} is before {_iso(low)}"
        return f"{when} is after now + the allowed clock skew of {self.max_clock_skew_s:g} s ({_iso(high)})"

    def violations(
        self, record: Mapping[str, Any], bounds: tuple[int, int] | None = None, *, strings: bool = True
    ) -> list[Violation]:
        """Every rule one decoded or to-be-encoded record breaks (fields of the wrong type are the schema's
        business and skipped here); ``bounds``: the event time bounds if already taken for a batch.
        ``strings=False`` leaves out the UTF-8 test of fields other than the ids, for a caller whose encoder
        refuses such a string anyway (the producer SDK asks again when it does)."""
        low, high = bounds or self.event_time_bounds()
        entity, event, millis = record.get("entity_id"), record.get("event_id"), record.get("event_time")
        if (  # the common case at the cost of two regex matches: ids of the charset are ASCII, so UTF-8
            type(entity) is str
            and _valid_id(entity)
            and type(event) is str
            and _valid_id(event)
            and type(millis) is int
            and low <= millis <= high
            and not (strings and any(type(v) is str and not v.isascii() for v in record.values()))
        ):
            return []
        found = [
            Violation(name, INVALID_UTF8, f"{name} is not valid UTF-8")
            for name, value in record.items()
            if type(value) is str and not is_utf8(value) and (strings or name in ID_FIELDS)
        ]
        for name in ID_FIELDS:
            value = record.get(name)
            problem = id_problem(value) if type(value) is str and is_utf8(value) else None
            if problem:
                found.append(Violation(name, ID_REASONS[name], problem))
        time_ms = _millis(millis)
        problem = self.event_time_problem(time_ms, (low, high)) if time_ms is not None else None
        if problem:
            found.append(Violation("event_time", EVENT_TIME_OUT_OF_RANGE, problem))
        return found


def _millis(value: object) -> int | None:
    """Epoch milliseconds of an int or a datetime (naive: local time, as fastavro writes it)."""
    if type(value) is int:
        return value
    if isinstance(value, dt.datetime):
        return math.floor(value.timestamp() * 1000)
    return None


def _iso(millis: int) -> str:
    if not _FIRST_DATETIME_MS <= millis <= MAX_EVENT_TIME_MS:
        return f"epoch ms {millis}"
    when = _EPOCH + dt.timedelta(milliseconds=millis)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _preview(value: str, limit: int = 40) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "…")
