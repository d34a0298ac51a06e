"""The prediction sink on acsylla, asyncio bindings of the DataStax C++ driver (the default client).

Same contract as ``PredictionWriter`` (scorers.prediction_sink): UNLOGGED batches grouped by replica, a bounded
number in flight, refused requests bisected down to the rows Cassandra refuses, errors translated by class
(``acsylla_error``). A row binds in ~1 µs (cassandra-driver: 6-12 µs on the 2-core box), and requests are
encoded and sent by the C++ driver's own I/O thread, outside the GIL (docs/performance.md, "Write path").

The worker is synchronous, acsylla asynchronous. The sink owns a private event loop and runs it only inside
``write``, in the caller's thread, until every request of the call is settled: one hand-off per micro-batch
(~30 µs on the 2-core box against ~140 µs through a loop thread and ``run_coroutine_threadsafe``), no second
Python thread, and nothing left running between writes or after ``close`` (the C++ driver's I/O thread keeps
connections and reconnects meanwhile). A session answers on the loop it was created on, so the sink is used
by one thread at a time (a lock makes sure).
"""

from __future__ import annotations

import asyncio
import logging
import struct
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any, NamedTuple

import acsylla
from cassandra.cluster import Metadata

from scorecast.errors import ConfigError, PermanentError, RetryableError, ScorecastError
from scorecast.io.acsylla_cluster import acsylla_cluster
from scorecast.io.cassandra import cassandra_where
from scorecast.io.cql import insert_prediction
from scorecast.io.errors import acsylla_error
from scorecast.settings import Settings
from scorers.prediction_sink import PredictionRows, RejectedRow, split_requests, write_bisecting

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 10.0  # as cassandra-driver's sessions (scorecast.cassandra.connect)
_CLOSE_TIMEOUT_S = 5.0


class _Row(NamedTuple):
    position: int  # in the written PredictionRows
    statement: Any  # an acsylla Statement


class AcsyllaPredictionWriter:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        session: Any,
        inserts: tuple[Any, Any],
        keyspace: str,
        metadata: Metadata | None = None,
        rows_per_request: int = 50,
        max_in_flight: int = 32,
    ) -> None:
        self._loop = loop
        self._session = session
        self._insert, self._insert_traced = inserts
        self._keyspace = keyspace
        self._metadata = metadata
        self._rows_per_request = rows_per_request
        self._max_in_flight = max_in_flight
        self._lock = threading.Lock()

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        metadata: Metadata | None = None,
        rows_per_request: int = 50,
        max_in_flight: int = 32,
    ) -> AcsyllaPredictionWriter:
        """Connects and prepares the inserts. ``metadata`` (a cassandra-driver session's) gives the token ring
        for grouping rows by replica on a cluster of several nodes; without it rows are not grouped. Raises
        ServiceUnavailableError when no node answers, ConfigError when the table cannot be prepared."""
        loop = asyncio.new_event_loop()
        try:
            session, inserts = loop.run_until_complete(_connect(settings))
        except BaseException:
            loop.close()
            raise
        return cls(loop, session, inserts, settings.keyspace, metadata, rows_per_request, max_in_flight)

    def write(self, rows: PredictionRows) -> list[RejectedRow]:
        """Blocks until every row is acknowledged or refused, and returns the refused ones; raises
        RetryableError when a request failed for a reason outside its rows (see PredictionWriter.write)."""
        if len(rows) == 0:
            return []
        with self._lock:
            rejected: list[RejectedRow] = []
            by_replica: defaultdict[object, list[_Row]] = defaultdict(list)
            replica_of = self._replica_lookup(rows)
            trace_ids = rows.trace_ids
            insert, traced = self._insert, self._insert_traced
            for index, values in enumerate(rows.values(timestamps_in_seconds=True)):
                try:
                    # A row without a trace id is bound to the statement without the column: nothing is written
                    # there (as cassandra-driver's UNSET), where a null would write a tombstone.
                    trace_id = trace_ids[index] if trace_ids is not None else None
                    statement = insert.bind(values) if trace_id is None else traced.bind((*values, trace_id))
                    replica = replica_of(rows.entity_ids[index]) if replica_of is not None else None
                except Exception as error:  # acsylla cannot bind this row's values
                    rejected.append(RejectedRow(index, _permanent(error)))
                    continue
                by_replica[replica].append(_Row(index, statement))
            requests = split_requests(by_replica.values(), self._rows_per_request)
            write_bisecting(requests, self._send, _translate, rejected)
            return sorted(rejected, key=lambda r: r.row)

    def close(self) -> None:
        """Closes the session and the loop; a second call does nothing."""
        with self._lock:
            if self._loop.is_closed():
                return
            try:
                self._loop.run_until_complete(asyncio.wait_for(self._session.close(), _CLOSE_TIMEOUT_S))
            except Exception as error:  # closing: a node already gone is no reason to fail the caller's shutdown
                log.warning("closing the acsylla prediction sink: %s", acsylla_error(error))
            finally:
                self._loop.close()

    def _send(self, requests: list[list[_Row]]) -> list[BaseException | None]:
        return self._loop.run_until_complete(self._send_all(requests))

    async def _send_all(self, requests: list[list[_Row]]) -> list[BaseException | None]:
        in_flight = asyncio.Semaphore(self._max_in_flight)
        session = self._session

        async def send(request: list[_Row]) -> BaseException | None:
            async with in_flight:
                try:
                    if len(request) == 1:
                        await session.execute(request[0].statement)
                    else:
                        batch = acsylla.create_batch_unlogged()
                        for row in request:
                            batch.add_statement(row.statement)
                        await session.execute_batch(batch)
                except Exception as error:
                    return error
                return None

        return list(await asyncio.gather(*(send(request) for request in requests)))

    def _replica_lookup(self, rows: PredictionRows) -> Callable[[str], object] | None:
        """entity_id → its first replica, for this batch's model and version; None on one node, where every row
        has the same replica."""
        metadata = self._metadata
        if metadata is None or len(metadata.all_hosts()) <= 1:
            return None
        prefix = _component(rows.model.encode()) + _component(struct.pack(">i", rows.version))
        keyspace = self._keyspace

        def replica_of(entity_id: str) -> object:
            replicas = metadata.get_replicas(keyspace, prefix + _component(entity_id.encode()))
            return replicas[0] if replicas else None

        return replica_of


def routing_key(model: str, version: int, entity_id: str) -> bytes:
    """The predictions partition key (model, version, entity_id) serialised as Cassandra hashes it: each
    component as a 2-byte length, its bytes and a 0 byte."""
    return b"".join(_component(part) for part in (model.encode(), struct.pack(">i", version), entity_id.encode()))


def _component(value: bytes) -> bytes:
    return struct.pack(">H", len(value)) + value + b"\x00"


async def _connect(settings: Settings) -> tuple[Any, tuple[Any, Any]]:
    where = cassandra_where(settings)
    cluster = acsylla_cluster(settings, application_name="scorecast-scorer", request_timeout_s=REQUEST_TIMEOUT_S)
    try:
        session = await cluster.create_session()
    except Exception as error:
        raise acsylla_error(error, service=where) from None
    try:
        inserts = (
            await session.create_prepared(insert_prediction(settings.keyspace), timeout=REQUEST_TIMEOUT_S),
            await session.create_prepared(insert_prediction(settings.keyspace, traced=True), timeout=REQUEST_TIMEOUT_S),
        )
    except Exception as error:
        await session.close()
        translated = acsylla_error(error, "preparing the prediction insert", service=where)
        if isinstance(translated, RetryableError):
            raise translated from None
        raise ConfigError(f"{translated}; run `scorecast init` or check SCORECAST_KEYSPACE") from None
    return session, inserts


def _translate(error: BaseException) -> ScorecastError:
    return acsylla_error(error, "Cassandra prediction write")


def _permanent(error: BaseException) -> PermanentError:
    translated = _translate(error)
    if isinstance(translated, PermanentError):
        return translated
    return PermanentError(f"Cassandra prediction write: {type(error).__name__}: {error}")
