"""Write a micro-batch of predictions to Cassandra and return only once every row is acknowledged or refused.

Rows go out as UNLOGGED batches grouped by replica: one request carries many rows to the node that owns
them, which is what lets the Python driver approach the cluster's write ceiling (single-row requests are
bound by the driver's per-request cost). Every row is an idempotent upsert keyed by (model, version,
entity_id, event_time, event_id), so writing a batch again after a failure or a redelivery changes nothing
but ``scored_at``.

A request Cassandra or the driver refuses deterministically (``PermanentError``: a key over 64 KiB, a value
the column type cannot hold) is split in halves and sent again until the refused rows stand alone; they are
returned so the caller can dead-letter their events, and every other row is written. Any other failure is
raised for the caller to retry.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from cassandra.cluster import Session
from cassandra.concurrent import execute_concurrent
from cassandra.query import UNSET_VALUE, BatchStatement, BatchType, BoundStatement

from scorecast.errors import PermanentError, ScorecastError
from scorecast.io.cql import insert_prediction
from scorecast.io.errors import cassandra_error


@dataclass(frozen=True)
class RejectedRow:
    """A row the driver or Cassandra refused deterministically; retrying it gives the same answer."""

    row: int  # index into the written PredictionRows
    error: PermanentError


@dataclass(frozen=True)
class PredictionRows:
    """The predictions of one micro-batch by one model version, column by column."""

    model: str
    version: int
    variant: str
    entity_ids: Sequence[str]
    event_ids: Sequence[str]
    event_times_ms: np.ndarray  # int64 epoch milliseconds
    scores: np.ndarray
    scored_at_ms: int
    # Each event's trace id (32 hex digits, None where it had none), or None when no event of the batch had one.
    trace_ids: Sequence[str | None] | None = None

    def __len__(self) -> int:
        return len(self.event_ids)


class PredictionWriter:
    def __init__(
        self,
        session: Session,
        keyspace: str,
        rows_per_request: int = 50,
        max_in_flight: int = 32,
    ) -> None:
        self._session = session
        self._keyspace = keyspace
        self._insert = session.prepare(insert_prediction(keyspace))
        # With the events' trace ids: only for batches where some event carried one, so untraced rows bind as
        # before. Measured on the 2-core box: a row binds in ~5.9 µs without the column and ~6.8 µs with it;
        # finding a batch's trace ids costs ~0.02 µs a message without headers and ~0.8 µs with a traceparent
        # (scorecast.telemetry).
        self._insert_traced = session.prepare(insert_prediction(keyspace, traced=True))
        self._rows_per_request = rows_per_request
        self._max_in_flight = max_in_flight

    def write(self, rows: PredictionRows) -> list[RejectedRow]:
        """Blocks until every row is acknowledged or refused, and returns the refused ones.

        Raises ``RetryableError`` (translated by ``cassandra_error``) if a request failed for a reason outside
        its rows (unavailable, timeout): the caller writes the batch again later. A request refused
        permanently is bisected, down to the single rows that the driver or Cassandra refuse.
        """
        if len(rows) == 0:
            return []
        scores = rows.scores.astype(np.float64).tolist()
        # The driver takes plain ints (epoch ms) for timestamps, not numpy integers.
        times = rows.event_times_ms.astype(np.int64).tolist()
        rejected: list[RejectedRow] = []
        by_replica: defaultdict[object, list[_Row]] = defaultdict(list)
        metadata = self._session.cluster.metadata
        # With one node every row has the same replica: skip the per-row token lookup.
        group = len(metadata.all_hosts()) > 1
        model, version, scored_at, variant = rows.model, rows.version, rows.scored_at_ms, rows.variant
        columns = zip(rows.entity_ids, rows.event_ids, times, scores, strict=True)
        insert = self._insert
        values: Iterable[tuple[object, ...]] = (
            (model, version, entity_id, event_time, event_id, score, scored_at, variant)
            for entity_id, event_id, event_time, score in columns
        )
        if rows.trace_ids is not None:
            insert = self._insert_traced
            # UNSET, not null, where an event had no trace id: a null would write a tombstone.
            ids = (UNSET_VALUE if trace_id is None else trace_id for trace_id in rows.trace_ids)
            values = ((*row, trace_id) for row, trace_id in zip(values, ids, strict=True))
        for index, row_values in enumerate(values):
            try:
                bound = insert.bind(row_values)
                replica = None
                if group:
                    replicas = metadata.get_replicas(self._keyspace, bound.routing_key)
                    replica = replicas[0] if replicas else None
            except Exception as error:  # the driver cannot encode this row's values
                rejected.append(RejectedRow(index, _permanent(error)))
                continue
            by_replica[replica].append(_Row(index, bound))
        requests = [
            statements[start : start + self._rows_per_request]
            for statements in by_replica.values()
            for start in range(0, len(statements), self._rows_per_request)
        ]
        while requests:
            refused = self._execute(requests, rejected)
            # Bisect: halves of every refused request go out again until single rows are left.
            requests = [
                half for request in refused for half in (request[: len(request) // 2], request[len(request) // 2 :])
            ]
        return sorted(rejected, key=lambda r: r.row)

    def _execute(self, requests: list[list[_Row]], rejected: list[RejectedRow]) -> list[list[_Row]]:
        """Send the requests; return those of several rows that were refused permanently."""
        batches: list[BatchStatement | Exception] = []
        for request in requests:
            batch = BatchStatement(batch_type=BatchType.UNLOGGED)
            try:
                for row in request:
                    batch.add(row.statement)  # the first row sets the batch's routing key: it may not pack
            except Exception as unpackable:
                batches.append(unpackable)
                continue
            batches.append(batch)
        sendable = [(b, ()) for b in batches if not isinstance(b, Exception)]
        results = iter(
            execute_concurrent(self._session, sendable, concurrency=self._max_in_flight, raise_on_first_error=False)
        )
        refused: list[list[_Row]] = []
        retryable: ScorecastError | None = None
        for request, batch in zip(requests, batches, strict=True):
            if isinstance(batch, Exception):
                ok, outcome = False, batch
            else:
                ok, outcome = next(results)
            if ok:
                continue
            translated = cassandra_error(outcome, "Cassandra prediction write")
            if not isinstance(translated, PermanentError):
                retryable = retryable or translated
            elif len(request) == 1:
                rejected.append(RejectedRow(request[0].position, translated))
            else:
                refused.append(request)
        if retryable is not None:
            raise retryable
        return refused


class _Row(NamedTuple):  # a NamedTuple: ~0.4 µs per row against ~1.4 µs for a frozen dataclass
    position: int  # in the written PredictionRows
    statement: BoundStatement


def _permanent(error: BaseException) -> PermanentError:
    translated = cassandra_error(error, "Cassandra prediction write")
    if isinstance(translated, PermanentError):
        return translated
    return PermanentError(f"Cassandra prediction write: {type(error).__name__}: {error}")
