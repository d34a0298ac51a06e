"""One way to open a Cassandra session: token-aware, local-DC routing, credentials from settings."""

from __future__ import annotations

from cassandra import ConsistencyLevel
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, Session
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy

from scorecast.settings import Settings


def connect(settings: Settings, keyspace: str | None = None) -> Session:
    """A session on ``keyspace`` (none if None). Close it with ``session.cluster.shutdown()``."""
    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=settings.cassandra_local_dc)),
        consistency_level=ConsistencyLevel.LOCAL_QUORUM,
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
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        protocol_version=5,
    )
    return cluster.connect(keyspace)
