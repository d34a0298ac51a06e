"""Signals and processor checkpoints in Cassandra (schemas/cql/0004_signals.cql, 0007_signals_by_kind.cql).

Every signal is written twice: to ``signals`` (a model's day, all kinds, newest window first) and to
``signals_by_kind`` (a model's kind and day), so that the newest signals of one kind are read from that kind's
partitions however many signals of other kinds share the day.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, cast

from cassandra.cluster import Session

from scorecast.io.cql import signals as cql
from scorecast.io.cql.signals import SIGNAL_TABLES, CheckpointRow, SignalRow
from streams.signals import Kind, Signal


def _day(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, UTC).date()


def _ms(value: datetime) -> int:
    return int(value.replace(tzinfo=UTC).timestamp() * 1000)


def _when(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


class SignalStore:
    def __init__(self, session: Session) -> None:
        self.session = session
        p, ks = session.prepare, session.keyspace
        self._inserts = [p(cql.insert_signal(ks, table)) for table in SIGNAL_TABLES]
        self._insert_day = p(cql.insert_signal_day(ks))
        self._insert_kind_day = p(cql.insert_signal_kind_day(ks))
        self._days = p(cql.select_signal_days(ks))
        self._kind_days = p(cql.select_signal_kind_days(ks))
        self._read = p(cql.select_signals(ks))
        self._read_kind = p(cql.select_signals_of_kind(ks))

    def write(self, signals: list[Signal]) -> None:
        """Upsert every signal; returns once all are acknowledged (raises the first failure)."""
        futures = []
        for s in signals:
            row = SignalRow(
                model=s.model,
                day=_day(s.window_end),
                window_end=_when(s.window_end),
                kind=s.kind,
                metric=s.metric,
                version=s.version or 0,
                window_start=_when(s.window_start),
                baseline_version=s.baseline_version,
                value=s.value,
                threshold=s.threshold,
                decision=s.decision,
                evidence=dict(s.evidence),
                emitted_at=_when(s.emitted_at),
            )
            futures += [self.session.execute_async(insert, row) for insert in self._inserts]
        for model, kind, day in {(s.model, s.kind, _day(s.window_end)) for s in signals}:
            futures.append(self.session.execute_async(self._insert_day, (model, day)))
            futures.append(self.session.execute_async(self._insert_kind_day, (model, kind, day)))
        for future in futures:
            future.result()

    def latest(self, model: str, limit: int = 50, kind: str | None = None) -> list[Signal]:
        """The newest signals of ``model`` (by window end), at most ``limit``; of one ``kind`` if given (rows
        written before migration 0007 are listed without a kind only)."""
        found: list[Signal] = []
        days = self._days.bind((model,)) if kind is None else self._kind_days.bind((model, kind))
        for row in self.session.execute(days):
            day = row.day.date() if hasattr(row.day, "date") else row.day
            read = (
                self._read.bind((model, day, limit))
                if kind is None
                else self._read_kind.bind((model, kind, day, limit))
            )
            found += [_signal(SignalRow._make(r)) for r in self.session.execute(read)]
            if len(found) >= limit:
                break
        return found[:limit]


def _signal(r: SignalRow) -> Signal:
    return Signal(
        kind=cast("Kind", r.kind),  # written from a Signal
        model=r.model,
        metric=r.metric,
        value=r.value,
        window_start=_ms(r.window_start),
        window_end=_ms(r.window_end),
        emitted_at=_ms(r.emitted_at),
        version=r.version or None,
        baseline_version=r.baseline_version,
        threshold=r.threshold,
        decision=r.decision,
        evidence=dict(r.evidence or {}),
    )


@dataclass(frozen=True)
class Checkpoint:
    state: dict[str, Any]
    offsets: dict[tuple[str, int], int]  # (topic, partition) -> next offset already processed


class CheckpointStore:
    def __init__(self, session: Session) -> None:
        self.session = session
        self._read = session.prepare(cql.select_checkpoint(session.keyspace))
        self._write = session.prepare(cql.upsert_checkpoint(session.keyspace))

    def load(self, processor: str) -> Checkpoint | None:
        found = self.session.execute(self._read, (processor,)).one()
        if found is None:
            return None
        row = CheckpointRow._make(found)
        offsets = {}
        for key, offset in (row.offsets or {}).items():
            topic, _, partition = key.rpartition(":")
            offsets[(topic, int(partition))] = int(offset)
        return Checkpoint(json.loads(row.state), offsets)

    def save(self, processor: str, state: dict[str, Any], offsets: dict[tuple[str, int], int]) -> None:
        """One row: the state and the offsets it covers are written together, atomically."""
        encoded = {f"{topic}:{partition}": offset for (topic, partition), offset in offsets.items()}
        self.session.execute(self._write, (processor, json.dumps(state), encoded, datetime.now(UTC)))
