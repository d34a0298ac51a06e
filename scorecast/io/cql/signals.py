"""The stream processors' tables (schemas/cql/0004, 0007): signals by model and day (``signals``) and by model,
kind and day (``signals_by_kind``), the days that hold them, and the processors' checkpoints.

The processors write them (streams/store.py); `scorecast signals show` and the demo read signals.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import NamedTuple

from scorecast.io.cql.tables import placeholders, select_list, table

SIGNAL_TABLES = ("signals", "signals_by_kind")


class SignalRow(NamedTuple):
    """A row of either signal table, as written and as read."""

    model: str
    day: date
    window_end: datetime
    kind: str
    metric: str
    version: int  # 0: not about one version (a clustering column cannot be null)
    window_start: datetime
    baseline_version: int | None
    value: float
    threshold: float | None
    decision: str | None
    evidence: dict[str, str] | None
    emitted_at: datetime


class CheckpointRow(NamedTuple):
    state: str  # JSON
    offsets: dict[str, int] | None  # "topic:partition" -> next offset


_SIGNAL_COLUMNS = select_list(SignalRow._fields)


def insert_signal(keyspace: str | None, signal_table: str) -> str:
    """One ``SignalRow`` into one of ``SIGNAL_TABLES``."""
    return (
        f"INSERT INTO {table(keyspace, signal_table)} ({_SIGNAL_COLUMNS}) "
        f"VALUES ({placeholders(len(SignalRow._fields))})"
    )


def insert_signal_day(keyspace: str | None) -> str:
    """A model's day holds signals (bound: model, day)."""
    return f"INSERT INTO {table(keyspace, 'signal_days')} (model, day) VALUES (?, ?)"


def insert_signal_kind_day(keyspace: str | None) -> str:
    """A model's day holds signals of one kind (bound: model, kind, day)."""
    return f"INSERT INTO {table(keyspace, 'signal_kind_days')} (model, kind, day) VALUES (?, ?, ?)"


def select_signal_days(keyspace: str | None) -> str:
    """The days that hold a model's signals, newest first (bound: model)."""
    return f"SELECT day FROM {table(keyspace, 'signal_days')} WHERE model = ?"


def select_signal_kind_days(keyspace: str | None) -> str:
    """The days that hold a model's signals of one kind, newest first (bound: model, kind)."""
    return f"SELECT day FROM {table(keyspace, 'signal_kind_days')} WHERE model = ? AND kind = ?"


def select_signals(keyspace: str | None) -> str:
    """The newest ``SignalRow``s of a model's day (bound: model, day, limit)."""
    return f"SELECT {_SIGNAL_COLUMNS} FROM {table(keyspace, 'signals')} WHERE model = ? AND day = ? LIMIT ?"


def select_signals_of_kind(keyspace: str | None) -> str:
    """The newest ``SignalRow``s of a model's kind and day (bound: model, kind, day, limit)."""
    return (
        f"SELECT {_SIGNAL_COLUMNS} FROM {table(keyspace, 'signals_by_kind')} "
        "WHERE model = ? AND kind = ? AND day = ? LIMIT ?"
    )


def select_checkpoint(keyspace: str | None) -> str:
    """A processor's ``CheckpointRow`` (bound: processor)."""
    columns = select_list(CheckpointRow._fields)
    return f"SELECT {columns} FROM {table(keyspace, 'stream_checkpoints')} WHERE processor = ?"


def upsert_checkpoint(keyspace: str | None) -> str:
    """A processor's state and the offsets it covers, in one row (bound: processor, state, offsets, updated_at)."""
    return (
        f"INSERT INTO {table(keyspace, 'stream_checkpoints')} (processor, state, offsets, updated_at) "
        "VALUES (?, ?, ?, ?)"
    )
