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

Two implementations share that contract (``PredictionSink``): ``PredictionWriter`` on cassandra-driver, and
``scorers.acsylla_sink.AcsyllaPredictionWriter`` on acsylla (the DataStax C++ driver), opt-in: it writes faster
at less CPU per row, but a worker end to end gained only ~1.1-1.2x (docs/performance.md, "Write path").
``prediction_sink(settings, session)`` picks one from ``SCORECAST_PREDICTION_WRITE_CLIENT``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol, TypeVar

import numpy as np
from cassandra.cluster import Session
from cassandra.concurrent import execute_concurrent
from cassandra.query import UNSET_VALUE, BatchStatement, BatchType, BoundStatement

from scorecast.errors import PermanentError, ScorecastError
from scorecast.io.cql import insert_prediction
from scorecast.io.errors import cassandra_error
from scorecast.settings import Settings


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

    def values(self, *, timestamps_in_seconds: bool = False) -> Iterator[tuple[object, ...]]:
        """Each row's values in ``insert_prediction``'s order, without the trace id, as plain Python ints and floats
        (neither client takes numpy scalars). Timestamps are epoch milliseconds (cassandra-driver's ints), or
        with ``timestamps_in_seconds`` float seconds, as acsylla takes them: it stores ``int(seconds * 1000)``,
        which truncates, so each value carries half a millisecond more and lands on its exact millisecond."""
        scores = self.scores.astype(np.float64).tolist()
        times: list[int] | list[float] = self.event_times_ms.astype(np.int64).tolist()
        scored_at: int | float = self.scored_at_ms
        if timestamps_in_seconds:
            times = ((self.event_times_ms.astype(np.float64) + 0.5) / 1000.0).tolist()
            scored_at = (self.scored_at_ms + 0.5) / 1000.0
        model, version, variant = self.model, self.version, self.variant
        for entity_id, event_id, event_time, score in zip(self.entity_ids, self.event_ids, times, scores, strict=True):
            yield (model, version, entity_id, event_time, event_id, score, scored_at, variant)


class PredictionSink(Protocol):
    """Where the scorer writes prediction rows (see the module docstring for the contract)."""

    def write(self, rows: PredictionRows) -> list[RejectedRow]: ...

    def close(self) -> None: ...


def prediction_sink(settings: Settings, session: Session) -> PredictionSink:
    """The sink ``settings.prediction_write_client`` names. ``session`` (the worker's cassandra-driver session)
    serves the driver's sink, and the acsylla sink's replica grouping on a cluster of several nodes."""
    if settings.prediction_write_client == "cassandra-driver":
        return PredictionWriter(session, settings.keyspace)
    from scorers.acsylla_sink import AcsyllaPredictionWriter  # imports the C++ driver only where it is used

    return AcsyllaPredictionWriter.open(settings, metadata=session.cluster.metadata)


class PredictionWriter:
    """The sink on cassandra-driver: the caller's session, prepared statements bound row by row in Python."""

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
        rejected: list[RejectedRow] = []
        by_replica: defaultdict[object, list[_Row]] = defaultdict(list)
        metadata = self._session.cluster.metadata
        # With one node every row has the same replica: skip the per-row token lookup.
        group = len(metadata.all_hosts()) > 1
        insert = self._insert
        values: Iterable[tuple[object, ...]] = rows.values()
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
        requests = split_requests(by_replica.values(), self._rows_per_request)
        write_bisecting(requests, self._execute, _translate, rejected)
        return sorted(rejected, key=lambda r: r.row)

    def close(self) -> None:
        """Nothing to release: the session is the caller's."""

    def _execute(self, requests: list[list[_Row]]) -> list[BaseException | None]:
        """Send the requests; each one's failure, or None where it was acknowledged."""
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
        outcomes: list[BaseException | None] = []
        for batch in batches:
            if isinstance(batch, Exception):
                outcomes.append(batch)
                continue
            ok, outcome = next(results)
            outcomes.append(None if ok else outcome)
        return outcomes


class _Row(NamedTuple):  # a NamedTuple: ~0.4 µs per row against ~1.4 µs for a frozen dataclass
    position: int  # in the written PredictionRows
    statement: BoundStatement


class Positioned(Protocol):
    """A row of a request: where it sits in the written PredictionRows (its statement is the client's)."""

    @property
    def position(self) -> int: ...


R = TypeVar("R", bound=Positioned)


def split_requests(groups: Iterable[list[R]], rows_per_request: int) -> list[list[R]]:
    """Each group's rows (one replica's) cut into requests of at most ``rows_per_request``."""
    return [
        rows[start : start + rows_per_request] for rows in groups for start in range(0, len(rows), rows_per_request)
    ]


def write_bisecting(
    requests: list[list[R]],
    send: Callable[[list[list[R]]], list[BaseException | None]],
    translate: Callable[[BaseException], ScorecastError],
    rejected: list[RejectedRow],
) -> None:
    """Send ``requests``; split every one refused permanently in halves and send those again, until the refused
    rows stand alone and land in ``rejected``. Raises the first failure that is not permanent (retryable, or a
    ConfigError), after the whole round is settled, so nothing is left in flight."""
    while requests:
        refused: list[list[R]] = []
        other: ScorecastError | None = None
        for request, outcome in zip(requests, send(requests), strict=True):
            if outcome is None:
                continue
            translated = translate(outcome)
            if not isinstance(translated, PermanentError):
                other = other or translated
            elif len(request) == 1:
                rejected.append(RejectedRow(request[0].position, translated))
            else:
                refused.append(request)
        if other is not None:
            raise other
        requests = [
            half for request in refused for half in (request[: len(request) // 2], request[len(request) // 2 :])
        ]


def _translate(error: BaseException) -> ScorecastError:
    return cassandra_error(error, "Cassandra prediction write")


def _permanent(error: BaseException) -> PermanentError:
    translated = _translate(error)
    if isinstance(translated, PermanentError):
        return translated
    return PermanentError(f"Cassandra prediction write: {type(error).__name__}: {error}")
