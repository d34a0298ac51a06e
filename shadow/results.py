"""The joined-results table (schemas/cql/0005): champion and challenger predictions of one event, side by side.

``ResultsWriter`` upserts joined rows as UNLOGGED batches of one partition each (one request, one replica
set) and records which (challenger version, hour) partitions exist; ``ResultsReader`` reads every row of one
challenger over a time range, one range slice per hour, concurrently. Timestamps travel as epoch
milliseconds both ways (``toUnixTimestamp`` on read) so no datetime object is built per row.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
from cassandra.cluster import Session
from cassandra.concurrent import execute_concurrent, execute_concurrent_with_args
from cassandra.query import BatchStatement, BatchType

from scorecast.errors import ScorecastError
from scorecast.io.cql import shadow as cql
from scorecast.io.cql.shadow import BucketRow, JoinedResultRow

HOUR_MS = 3_600_000


class ResultsWriteError(ScorecastError):
    """Joined rows could not be written; the batch is retried and not committed."""


@dataclass(frozen=True)
class JoinedRow:
    challenger_version: int
    event_time: int
    event_id: str
    entity_id: str
    champion_version: int
    champion_score: float
    champion_scored_at: int
    challenger_score: float
    challenger_scored_at: int
    produced_at: int | None


@dataclass(frozen=True)
class JoinedColumns:
    """All joined rows of one challenger version (what the report reads), column by column."""

    challenger_version: int
    event_ids: list[str]
    entity_ids: list[str]
    event_times: np.ndarray  # int64 epoch ms
    champion_versions: np.ndarray  # int64
    champion_scores: np.ndarray  # float64
    challenger_scores: np.ndarray
    champion_latency_ms: np.ndarray  # float64, NaN where produced_at is unknown
    challenger_latency_ms: np.ndarray

    def __len__(self) -> int:
        return len(self.event_ids)

    def select(self, keep: np.ndarray) -> JoinedColumns:
        rows = np.flatnonzero(keep).tolist()
        return JoinedColumns(
            self.challenger_version,
            [self.event_ids[i] for i in rows],
            [self.entity_ids[i] for i in rows],
            self.event_times[keep],
            self.champion_versions[keep],
            self.champion_scores[keep],
            self.challenger_scores[keep],
            self.champion_latency_ms[keep],
            self.challenger_latency_ms[keep],
        )


def bucket_of(event_time_ms: int) -> int:
    return event_time_ms - event_time_ms % HOUR_MS


class ResultsWriter:
    def __init__(self, session: Session, keyspace: str, rows_per_request: int = 50, max_in_flight: int = 32) -> None:
        self._session = session
        self._insert = session.prepare(cql.insert_shadow_result(keyspace))  # bound: cql.RESULT_COLUMNS
        self._bucket = session.prepare(cql.insert_shadow_bucket(keyspace))
        self._rows_per_request = rows_per_request
        self._max_in_flight = max_in_flight

    def write(self, model: str, rows: list[JoinedRow], joined_at_ms: int) -> None:
        """Blocks until every row is acknowledged; raises ResultsWriteError if any request failed."""
        partitions: defaultdict[tuple[int, int], list[JoinedRow]] = defaultdict(list)
        for row in rows:
            partitions[(row.challenger_version, bucket_of(row.event_time))].append(row)
        requests: list[tuple[Any, tuple[object, ...]]] = []
        for (version, bucket), members in partitions.items():
            for start in range(0, len(members), self._rows_per_request):
                batch = BatchStatement(batch_type=BatchType.UNLOGGED)
                for r in members[start : start + self._rows_per_request]:
                    batch.add(
                        self._insert,
                        (model, version, bucket, r.event_time, r.event_id, r.entity_id, r.champion_version,
                         r.champion_score, r.champion_scored_at, r.challenger_score, r.challenger_scored_at,
                         r.produced_at, joined_at_ms),
                    )  # fmt: skip
                requests.append((batch, ()))
        requests += [(self._bucket, (model, version, bucket)) for version, bucket in partitions]
        results = execute_concurrent(
            self._session, requests, concurrency=self._max_in_flight, raise_on_first_error=False
        )
        failures = [result for ok, result in results if not ok]
        if failures:
            raise ResultsWriteError(f"{len(failures)} of {len(requests)} joined-row writes failed: {failures[0]!r}")


class ResultsReader:
    def __init__(self, session: Session, keyspace: str, max_in_flight: int = 16) -> None:
        self._session = session
        self._buckets = session.prepare(cql.select_shadow_buckets(keyspace))
        self._slice = session.prepare(cql.select_shadow_results(keyspace))
        self._max_in_flight = max_in_flight

    def partitions(self, model: str) -> dict[int, list[int]]:
        """challenger version -> its hour buckets (epoch ms), oldest first."""
        found: dict[int, list[int]] = {}
        for row in map(BucketRow._make, self._session.execute(self._buckets, (model,))):
            found.setdefault(row.challenger_version, []).append(row.bucket)
        return found

    def read(self, model: str, version: int, buckets: list[int], since_ms: int, until_ms: int) -> JoinedColumns:
        """Every joined row of ``model``@``version`` with since_ms <= event_time < until_ms."""
        wanted = [b for b in buckets if b + HOUR_MS > since_ms and b < until_ms]
        args = [(model, version, b, since_ms, until_ms) for b in wanted]
        results = execute_concurrent_with_args(
            self._session, self._slice, args, concurrency=self._max_in_flight, raise_on_first_error=True
        )
        rows = [row for _, result in results for row in result]
        # column by column, each named by the typed row's field (no object per row)
        empty = ((),) * len(JoinedResultRow._fields)
        c = dict(zip(JoinedResultRow._fields, zip(*rows, strict=True) if rows else empty, strict=True))
        origin = np.array([np.nan if p is None else p for p in c["produced_at"]], dtype=np.float64)
        return JoinedColumns(
            challenger_version=version,
            event_ids=list(c["event_id"]),
            entity_ids=list(c["entity_id"]),
            event_times=np.array(c["event_time"], dtype=np.int64),
            champion_versions=np.array(c["champion_version"], dtype=np.int64),
            champion_scores=np.array(c["champion_score"], dtype=np.float64),
            challenger_scores=np.array(c["challenger_score"], dtype=np.float64),
            champion_latency_ms=np.array(c["champion_scored_at"], dtype=np.float64) - origin,
            challenger_latency_ms=np.array(c["challenger_scored_at"], dtype=np.float64) - origin,
        )
