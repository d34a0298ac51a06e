"""The lookup API's statements on cassandra-driver (``client = "cassandra-driver"``), kept for comparison.

The default client is acsylla (``acsylla_connection``): this driver spent 170-240 µs of client CPU per point
read here against ~14 µs (docs/performance.md). The rest of scorecast (migrations, registry, workers) still
uses cassandra-driver.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from cassandra import OperationTimedOut, RequestExecutionException
from cassandra.cluster import ExecutionProfile, NoHostAvailable, Session
from cassandra.connection import ConnectionException
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
from cassandra.query import PreparedStatement, tuple_factory

from lookup_api.cassandra_async import execute
from lookup_api.config import ApiSettings
from lookup_api.connection import Row, statements
from lookup_api.errors import UNAVAILABLE, Unavailable
from scorecast.cassandra import connect
from scorecast.settings import Settings

PROFILE = "lookup_api"
# Errors that say "Cassandra cannot answer now", as opposed to a bug in a statement
TRANSIENT = (NoHostAvailable, OperationTimedOut, RequestExecutionException, ConnectionException)


class DriverConnection:
    def __init__(self, session: Session, keyspace: str, api: ApiSettings) -> None:
        self._session = session
        self._timeout = api.request_timeout_s
        self._prepared: dict[str, PreparedStatement] = {
            name: session.prepare(cql) for name, cql in statements(keyspace).items()
        }

    @classmethod
    async def open(cls, settings: Settings, api: ApiSettings) -> DriverConnection:
        """Connects and prepares in a worker thread: the driver blocks, the event loop must not."""
        session = await asyncio.to_thread(open_session, settings, api)
        try:
            return await asyncio.to_thread(cls, session, settings.keyspace, api)
        except BaseException:
            await asyncio.to_thread(session.cluster.shutdown)
            raise

    def query(self, name: str, params: Sequence[object]) -> asyncio.Future[list[Row]]:
        return execute(
            self._session, self._prepared[name], params, profile=PROFILE, timeout=self._timeout, translate=_translate
        )

    async def close(self) -> None:
        await asyncio.to_thread(self._session.cluster.shutdown)


def open_session(settings: Settings, api: ApiSettings) -> Session:
    """A session on the keyspace with the API's execution profile (also used by the benchmark's raw reads)."""
    session = connect(settings, settings.keyspace)
    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=settings.cassandra_local_dc)),
        consistency_level=session.cluster.profile_manager.default.consistency_level,
        request_timeout=api.request_timeout_s,
        row_factory=tuple_factory,  # plain tuples: the default named tuples build a class per result
    )
    try:
        session.cluster.add_execution_profile(PROFILE, profile)
    except Exception:
        session.cluster.shutdown()
        raise
    return session


def _translate(error: BaseException) -> BaseException:
    """Transient driver errors become ``Unavailable`` (503); anything else is a bug and stays as it is."""
    if isinstance(error, TRANSIENT):
        return Unavailable(UNAVAILABLE)
    return error
