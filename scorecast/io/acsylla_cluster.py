"""An acsylla (DataStax C++ driver) cluster configured from settings as ``scorecast.cassandra.connect`` configures
cassandra-driver's: hosts, port, credentials, local-DC token-aware routing, the consistency level of
SCORECAST_CASSANDRA_CONSISTENCY, bounded connect and request timeouts, and a lost node tried again every ≤ 2 s."""

from __future__ import annotations

import logging
from typing import Any

import acsylla

from scorecast.settings import Settings

# The C++ driver logs to the "acsylla" Python logger; errors (a node lost, a reconnection failing) show.
LOG_LEVEL = "error"
_NOT_SCYLLA = "Could not retrieve sharding info"


class _NoShardingNotice(logging.Filter):
    """Drops the line the driver (ScyllaDB's fork) logs as an ERROR on every connection to a Cassandra, which
    has no shards: a worker's log would otherwise start with an error that is none."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_NOT_SCYLLA)


_FILTER = _NoShardingNotice()


def acsylla_cluster(settings: Settings, *, application_name: str, request_timeout_s: float) -> Any:
    """The cluster to ``await cluster.create_session()`` on. Its completions arrive on the event loop running
    when the session is created, so a session is used from that loop only."""
    logger = logging.getLogger("acsylla")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    password = settings.cassandra_password.get_secret_value() if settings.cassandra_password else ""
    return acsylla.create_cluster(
        settings.cassandra_hosts,
        port=settings.cassandra_port,
        username=settings.cassandra_username,
        password=password if settings.cassandra_username is not None else None,
        consistency=getattr(acsylla.Consistency, settings.cassandra_consistency),  # as scorecast.cassandra.connect
        load_balance_dc_aware=settings.cassandra_local_dc,
        token_aware_routing=True,
        request_timeout=request_timeout_s,
        connect_timeout=settings.cassandra_connect_timeout_s,
        # as scorecast.cassandra.reconnection_policy: a lost node is tried again from 0.5 s, at most every 2 s
        exponential_reconnect_base_delay_ms=500,
        exponential_reconnect_max_delay_ms=2000,
        log_level=LOG_LEVEL,
        application_name=application_name,
    )
