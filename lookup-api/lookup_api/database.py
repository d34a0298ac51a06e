"""The one Cassandra session of an API process, its prepared statements, and what "unavailable" means.

The session is opened at startup (lifespan) in a worker thread so the event loop stays free. If Cassandra
cannot be reached then, the app still starts: /healthz answers, /readyz and every read answer 503 (with a
generic reason; the driver's error is logged), and a new attempt is made at most every
``reconnect_interval_s`` when a request comes. Once connected, the driver
reconnects by itself; reads that fail for lack of replicas or time answer 503 too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cassandra import OperationTimedOut, RequestExecutionException
from cassandra.cluster import ExecutionProfile, NoHostAvailable, Session
from cassandra.connection import ConnectionException
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
from cassandra.query import PreparedStatement, tuple_factory

from lookup_api.cassandra_async import Row, execute
from lookup_api.config import ApiSettings
from lookup_api.errors import Unavailable
from lookup_api.keys import KEY_COLUMNS_MS
from lookup_api.timestamps import column as ms
from scorecast.cassandra import connect
from scorecast.settings import Settings

log = logging.getLogger(__name__)
PROFILE = "lookup_api"
# What clients are told: the driver's text names hosts, ports and internals, which are the operator's business
UNAVAILABLE = "Cassandra is unavailable"
# Errors that say "Cassandra cannot answer now", as opposed to a bug in a statement
TRANSIENT = (NoHostAvailable, OperationTimedOut, RequestExecutionException, ConnectionException)


@dataclass(frozen=True)
class Statements:
    latest: PreparedStatement
    aliases: PreparedStatement
    versions: PreparedStatement
    rollout: PreparedStatement
    all_versions: PreparedStatement
    all_aliases: PreparedStatement
    api_key: PreparedStatement
    api_key_ids: PreparedStatement
    ping: PreparedStatement

    @classmethod
    def prepare(cls, session: Session) -> Statements:
        """Timestamps are read as epoch milliseconds (see ``timestamps``): no stored value can fail a decode."""
        return cls(
            latest=session.prepare(
                f"SELECT event_id, {ms('event_time')}, score, outputs, {ms('scored_at')} FROM predictions "
                "WHERE model = ? AND version = ? AND entity_id = ? LIMIT 1"
            ),
            aliases=session.prepare("SELECT alias, version FROM model_aliases WHERE model = ?"),
            versions=session.prepare("SELECT version FROM model_versions WHERE model = ?"),
            rollout=session.prepare(
                "SELECT status, candidate, baseline, fraction, salt FROM rollouts WHERE model = ? LIMIT 1"
            ),
            all_versions=session.prepare(f"SELECT model, version, {ms('created_at')}, description FROM model_versions"),
            all_aliases=session.prepare("SELECT model, alias, version FROM model_aliases"),
            api_key=session.prepare(f"SELECT {KEY_COLUMNS_MS} FROM api_keys WHERE key_id = ?"),
            api_key_ids=session.prepare("SELECT key_id FROM api_keys"),
            ping=session.prepare("SELECT release_version FROM system.local"),
        )


class Database:
    def __init__(self, settings: Settings, api: ApiSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self._settings = settings
        self._api = api
        self._clock = clock
        self._session: Session | None = None
        self._statements: Statements | None = None
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
        if self._session is not None:
            session, self._session, self._statements = self._session, None, None
            await asyncio.to_thread(session.cluster.shutdown)

    @property
    def statements(self) -> Statements:
        if self._statements is None:
            self._begin_attempt()
            raise Unavailable(UNAVAILABLE)
        return self._statements

    def query(self, statement: PreparedStatement, params: Sequence[object]) -> asyncio.Future[list[Row]]:
        """The rows of one statement; the future fails with ``Unavailable`` when Cassandra cannot answer."""
        if self._session is None:
            self._begin_attempt()
            raise Unavailable(UNAVAILABLE)
        return execute(
            self._session, statement, params, profile=PROFILE, timeout=self._api.request_timeout_s, translate=_translate
        )

    def _begin_attempt(self) -> None:
        now = self._clock()
        busy = self._attempt is not None and not self._attempt.done()
        if self._statements is not None or busy or now - self._last_attempt < self._api.reconnect_interval_s:
            return
        self._last_attempt = now
        self._attempt = asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        try:
            if self._session is None:
                self._session = await asyncio.to_thread(open_session, self._settings, self._api)
            self._statements = await asyncio.to_thread(Statements.prepare, self._session)
            self.last_error = ""
        except Exception as error:  # any failure leaves the app up and unready; the reason is in the log only
            self.last_error = f"{type(error).__name__}: {error}"[:300]
            log.warning("Cassandra not ready: %s", self.last_error)


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
        return Unavailable(f"Cassandra did not answer: {type(error).__name__}")
    return error
