"""Stored timestamps read as epoch milliseconds, so that no stored value can break a driver connection.

The driver decodes a whole result on its connection's IO thread. A ``timestamp`` outside the years 1-9999
that Python's datetime holds (Cassandra stores any 64-bit millisecond count: 2^60 and -2^62 were seen)
raised there, and the driver answered a decoding error by closing the connection: every read in flight on it
failed and the pool took ~1 s to reconnect, so one odd row gave every other client 503s. Every timestamp the
API reads is therefore selected as ``toUnixTimestamp(column)`` (``scorecast.io.cql.tables.epoch_ms``), a bigint
the driver always decodes, and turned into a datetime here, where an odd value is an error of the one row that
holds it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

_EPOCH = datetime(1970, 1, 1)  # naive UTC, as the driver gave them: JSON_OPTIONS writes them with a Z
MIN_MS = (datetime.min - _EPOCH) // timedelta(milliseconds=1)
MAX_MS = (datetime.max - _EPOCH) // timedelta(milliseconds=1)


class OutOfRangeError(ValueError):
    """A stored timestamp no datetime (nor an RFC 3339 string) can represent."""

    def __init__(self, ms: int) -> None:
        super().__init__(f"{ms} ms since the epoch is outside the years 1-9999")
        self.ms = ms


def from_ms(ms: int | None) -> datetime | None:
    """The naive UTC datetime of ``ms``; raises ``OutOfRangeError`` outside the years 1-9999."""
    if ms is None:
        return None
    if not MIN_MS <= ms <= MAX_MS:
        raise OutOfRangeError(ms)
    return _EPOCH + timedelta(milliseconds=ms)


def clamped(ms: int | None) -> datetime | None:
    """Like ``from_ms``, but an odd value becomes the nearest datetime (for metadata the API never serves)."""
    return None if ms is None else from_ms(min(max(ms, MIN_MS), MAX_MS))
