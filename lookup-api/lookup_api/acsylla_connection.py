"""The lookup API's statements on acsylla, asyncio bindings of the DataStax C++ driver (the default client).

Measured on a 2-core box (docs/performance.md): ~14 µs of client CPU per point read against 170-240 µs with
cassandra-driver, whose pure-Python protocol handling was half of the API's time. Completions arrive on the
event loop itself, so nothing is handed between threads per read. acsylla's errors are classified once, by
``scorecast.io.errors.acsylla_error``: a retryable one (unreachable, timed out, overloaded) is a 503, any
other is a bug and propagates as itself (500).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import acsylla

from lookup_api.config import ApiSettings
from lookup_api.connection import Row, statements
from lookup_api.errors import UNAVAILABLE, Unavailable
from scorecast.errors import RetryableError
from scorecast.io.acsylla_cluster import tls_options
from scorecast.io.errors import acsylla_error
from scorecast.settings import Settings

# The C++ driver logs to the "acsylla" Python logger. At warn it reports, on every connection, that Cassandra
# (not being ScyllaDB) gives no sharding info; errors (a node lost, a reconnection failing) still show.
_LOG_LEVEL = "error"


class AcsyllaConnection:
    def __init__(self, session: Any, prepared: dict[str, Any]) -> None:
        self._session = session
        self._prepared = prepared

    @classmethod
    async def open(cls, settings: Settings, api: ApiSettings) -> AcsyllaConnection:
        """Connects and prepares every statement (a missing keyspace fails here); a failure raises acsylla's error
        as it is."""
        password = settings.cassandra_password.get_secret_value() if settings.cassandra_password else None
        cluster = acsylla.create_cluster(
            settings.cassandra_hosts,
            port=settings.cassandra_port,
            username=settings.cassandra_username,
            password=password if settings.cassandra_username is not None else None,
            consistency=getattr(acsylla.Consistency, settings.cassandra_consistency),  # as scorecast.cassandra
            load_balance_dc_aware=settings.cassandra_local_dc,
            token_aware_routing=True,
            request_timeout=api.request_timeout_s,
            connect_timeout=max(api.request_timeout_s, 1.0),
            # as scorecast.cassandra.reconnection_policy: a lost node is tried again from 0.5 s, at most every 2 s
            exponential_reconnect_base_delay_ms=500,
            exponential_reconnect_max_delay_ms=2000,
            log_level=_LOG_LEVEL,
            application_name="scorecast-lookup-api",
            **tls_options(settings),
        )
        session = await cluster.create_session()  # no session keyspace: the statements name theirs
        try:
            prepared = {
                name: await session.create_prepared(cql, timeout=api.request_timeout_s)
                for name, cql in statements(settings.keyspace).items()
            }
        except BaseException:
            await session.close()
            raise
        return cls(session, prepared)

    async def query(self, name: str, params: Sequence[object]) -> list[Row]:
        prepared = self._prepared[name]
        try:
            result = await self._session.execute(prepared.bind(params))
            rows = [row.as_tuple() for row in result]
            while result.has_more_pages():  # the listings may span pages; point reads never do
                result = await self._session.execute(prepared.bind(params, page_state=result.page_state()))
                rows.extend(row.as_tuple() for row in result)
        except Exception as error:
            if isinstance(acsylla_error(error), RetryableError):
                raise Unavailable(UNAVAILABLE) from error
            raise
        return rows

    async def close(self) -> None:
        await self._session.close()
