"""One way to open a Cassandra session: token-aware, local-DC routing, credentials and TLS from settings."""

from __future__ import annotations

import socket

from cassandra import ConsistencyLevel
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, Session
from cassandra.policies import DCAwareRoundRobinPolicy, ExponentialReconnectionPolicy, TokenAwarePolicy

from scorecast.security import cassandra_ssl_context
from scorecast.settings import Settings


def connect(settings: Settings, keyspace: str | None = None) -> Session:
    """A session on ``keyspace`` (none if None). Close it with ``session.cluster.shutdown()``."""
    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=settings.cassandra_local_dc)),
        consistency_level=ConsistencyLevel.name_to_value[settings.cassandra_consistency],
        request_timeout=10.0,
    )
    auth = None
    if settings.cassandra_username is not None:
        password = settings.cassandra_password.get_secret_value() if settings.cassandra_password else ""
        auth = PlainTextAuthProvider(settings.cassandra_username, password)
    cluster = Cluster(
        settings.cassandra_hosts,
        port=settings.cassandra_port,
        auth_provider=auth,
        ssl_context=cassandra_ssl_context(settings),
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        protocol_version=5,
        # Without it, Nagle's algorithm holds a request's last segment until the previous one is acknowledged,
        # and the peer delays that ACK by up to 40 ms: a 50-row batch took ~50 ms instead of ~6 ms.
        sockopts=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        reconnection_policy=reconnection_policy(),
        # Bounded from settings, not left to the driver's default: an unreachable host costs this long at most
        # per connection attempt, so how long a command or worker waits on a silent node is ours to choose.
        connect_timeout=settings.cassandra_connect_timeout_s,
    )
    return cluster.connect(keyspace)


def reconnection_policy() -> ExponentialReconnectionPolicy:
    """How often the driver tries a node it lost: from 0.5 s, at most every 2 s, for as long as it takes.

    The driver's default backs off to 600 s (seen: 8.5, 17.6, 29 s steps), so workers noticed Cassandra's
    return minutes late; a reconnection attempt is one TCP connect, cheap to repeat every 2 s. No attempt
    limit: the default gives up on a node after 64 attempts.
    """
    return ExponentialReconnectionPolicy(base_delay=0.5, max_delay=2.0, max_attempts=None)
