"""The API's one Cassandra connection, what "unavailable" means, and the one place that picks the client.

The connection is opened at startup (lifespan). If Cassandra cannot be reached then, the app still starts:
/healthz answers, /readyz and every read answer 503 (with a generic reason; the client's error is logged),
and a new attempt is made at most every ``reconnect_interval_s`` when a request comes. Once connected, the
client reconnects by itself; reads that fail for lack of replicas or time answer 503 too.

``ApiSettings.cassandra_client`` picks the client: acsylla (default) or cassandra-driver (kept to compare).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from lookup_api.acsylla_connection import AcsyllaConnection
from lookup_api.config import ApiSettings
from lookup_api.connection import Connection, Row
from lookup_api.driver_connection import DriverConnection
from lookup_api.errors import UNAVAILABLE, Unavailable
from scorecast.settings import Settings

log = logging.getLogger(__name__)
Connector = Callable[[], Awaitable[Connection]]


def connector(settings: Settings, api: ApiSettings) -> Connector:
    """How to open a connection with the client ``api.cassandra_client`` names."""
    if api.cassandra_client == "cassandra-driver":
        return lambda: DriverConnection.open(settings, api)
    return lambda: AcsyllaConnection.open(settings, api)


class LookupStore:
    def __init__(self, connect: Connector, api: ApiSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self._open = connect
        self._reconnect_interval_s = api.reconnect_interval_s
        self._clock = clock
        self._connection: Connection | None = None
        self._attempt: asyncio.Task[None] | None = None
        self._last_attempt = -float("inf")
        self.last_error = "not connected yet"

    async def start(self) -> None:
        """Try to connect once; failure is not fatal (see the module docstring)."""
        self._begin_attempt()
        if self._attempt is not None:
            await asyncio.shield(self._attempt)

    async def stop(self) -> None:
        if self._attempt is not None:
            await asyncio.gather(self._attempt, return_exceptions=True)
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await connection.close()

    def query(self, name: str, params: Sequence[object]) -> Awaitable[list[Row]]:
        """The rows of statement ``name`` (``connection.statements``); fails with ``Unavailable`` (503) when
        Cassandra cannot answer, raising it at once while no connection is open."""
        if self._connection is None:
            self._begin_attempt()
            raise Unavailable(UNAVAILABLE)
        return self._connection.query(name, params)

    def _begin_attempt(self) -> None:
        now = self._clock()
        busy = self._attempt is not None and not self._attempt.done()
        if self._connection is not None or busy or now - self._last_attempt < self._reconnect_interval_s:
            return
        self._last_attempt = now
        self._attempt = asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        try:
            self._connection = await self._open()
            self.last_error = ""
        except Exception as error:  # any failure leaves the app up and unready; the reason is in the log only
            self.last_error = f"{type(error).__name__}: {error}"[:300]
            log.warning("Cassandra not ready: %s", self.last_error)
