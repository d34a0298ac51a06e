"""Cassandra sessions opened and closed in one place, with connection failures in scorecast's own errors.

    with cassandra_session(settings) as session:     # on settings.keyspace
        ...
    # closed; ServiceUnavailableError if no host answered, ConfigError if the keyspace is missing

``open_cassandra`` is the same for a session that outlives a block (the caller shuts its cluster down).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from cassandra import DriverException
from cassandra.cluster import NoHostAvailable, Session

from scorecast.cassandra import connect
from scorecast.errors import ConfigError
from scorecast.io.errors import cassandra_error
from scorecast.settings import Settings


def cassandra_where(settings: Settings) -> str:
    """ "Cassandra at host:port, ...", as errors name it."""
    return "Cassandra at " + ", ".join(f"{host}:{settings.cassandra_port}" for host in settings.cassandra_hosts)


def open_cassandra(settings: Settings, *, keyspace: bool = True) -> Session:
    """A session on ``settings.keyspace`` (on none with ``keyspace=False``); close it with
    ``session.cluster.shutdown()``. Raises ServiceUnavailableError or ConfigError, never a driver error."""
    name = settings.keyspace if keyspace else None
    try:
        return connect(settings, name)
    except NoHostAvailable as error:
        if name is not None and not isinstance(error.errors, dict):
            # the hosts answered (no per-host connection error) but refused the keyspace
            raise ConfigError(
                f"keyspace {name} does not exist in {cassandra_where(settings)}: run `scorecast init` "
                "or check SCORECAST_KEYSPACE"
            ) from None
        raise cassandra_error(error, service=cassandra_where(settings)) from None
    except DriverException as error:
        raise cassandra_error(error, service=cassandra_where(settings)) from None


@contextmanager
def cassandra_session(settings: Settings, *, keyspace: bool = True) -> Iterator[Session]:
    """A session for the block, shut down when it ends (see ``open_cassandra``)."""
    session = open_cassandra(settings, keyspace=keyspace)
    try:
        yield session
    finally:
        session.cluster.shutdown()
