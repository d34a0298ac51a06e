"""Write a micro-batch of predictions to Cassandra and return only once every row is acknowledged.

Rows go out as UNLOGGED batches grouped by replica: one request carries many rows to the node that owns
them, which is what lets the Python driver approach the cluster's write ceiling (single-row requests are
bound by the driver's per-request cost). Every row is an idempotent upsert keyed by (model, version,
entity_id, event_time, event_id), so writing a batch again after a failure or a redelivery changes nothing
but ``scored_at``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from cassandra.cluster import Session
from cassandra.concurrent import execute_concurrent
from cassandra.query import BatchStatement, BatchType, BoundStatement

from scorecast.errors import ScorecastError

INSERT = (
    "INSERT INTO {keyspace}.predictions (model, version, entity_id, event_time, event_id, score, scored_at, variant) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


class PredictionWriteError(ScorecastError):
    """A batch of predictions could not be written; nothing of it may be committed."""


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
        self._insert = session.prepare(INSERT.format(keyspace=keyspace))
        self._rows_per_request = rows_per_request
        self._max_in_flight = max_in_flight

    def write(self, rows: PredictionRows) -> None:
        """Blocks until every row is acknowledged; raises PredictionWriteError if any request failed."""
        if len(rows) == 0:
            return
        scores = rows.scores.astype(np.float64).tolist()
        # The driver takes plain ints (epoch ms) for timestamps, not numpy integers.
        times = rows.event_times_ms.astype(np.int64).tolist()
        by_replica: defaultdict[object, list[BoundStatement]] = defaultdict(list)
        metadata = self._session.cluster.metadata
        # With one node every row has the same replica: skip the per-row token lookup.
        group = len(metadata.all_hosts()) > 1
        for entity_id, event_id, event_time, score in zip(rows.entity_ids, rows.event_ids, times, scores, strict=True):
            bound = self._insert.bind(
                (rows.model, rows.version, entity_id, event_time, event_id, score, rows.scored_at_ms, rows.variant)
            )
            if group:
                replicas = metadata.get_replicas(self._keyspace, bound.routing_key)
                by_replica[replicas[0] if replicas else None].append(bound)
            else:
                by_replica[None].append(bound)
        requests = []
        for statements in by_replica.values():
            for start in range(0, len(statements), self._rows_per_request):
                batch = BatchStatement(batch_type=BatchType.UNLOGGED)
                for statement in statements[start : start + self._rows_per_request]:
                    batch.add(statement)
                requests.append((batch, ()))
        results = execute_concurrent(
            self._session, requests, concurrency=self._max_in_flight, raise_on_first_error=False
        )
        failures = [result for ok, result in results if not ok]
        if failures:
            raise PredictionWriteError(
                f"{len(failures)} of {len(requests)} prediction write requests failed: {failures[0]!r}"
            )
