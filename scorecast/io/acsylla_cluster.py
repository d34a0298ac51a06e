"""An acsylla (DataStax C++ driver) cluster configured from settings as ``scorecast.cassandra.connect`` configures
cassandra-driver's: hosts, port, credentials, local-DC token-aware routing, the consistency level of
SCORECAST_CASSANDRA_CONSISTENCY, bounded connect and request timeouts, a lost node tried again every ≤ 2 s, and
TLS (``tls_options``)."""

from __future__ import annotations

import ipaddress
import logging
import ssl
from pathlib import Path
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
        **tls_options(settings),
    )


def tls_options(settings: Settings) -> dict[str, Any]:
    """acsylla's TLS options from the settings every other client uses (scorecast.security), for the lookup API's
    session and the scorer's sink alike; none while ``cassandra_ssl`` is off. The C++ driver takes certificates
    and keys as PEM text, not paths, and trusts no CA of its own: without a CA file the system's bundle is
    passed. Hostname verification matches a node's IP address against the certificate's IP SANs
    (PEER_IDENTITY), or, when a contact point is a name, its reverse-resolved name (PEER_IDENTITY_DNS, which
    needs hostname resolution on)."""
    if not settings.cassandra_ssl:
        return {}
    ca = settings.cassandra_ssl_ca_file or _system_ca_bundle()
    options: dict[str, Any] = {
        "ssl_enabled": True,
        "ssl_trusted_cert": ca.read_text() if ca is not None else None,
        "ssl_verify_flags": acsylla.SSLVerifyFlags.PEER_CERT,
    }
    if settings.cassandra_ssl_verify_hostname:
        by_name = not all(_is_ip(host) for host in settings.cassandra_hosts)
        options["ssl_verify_flags"] = (
            acsylla.SSLVerifyFlags.PEER_IDENTITY_DNS if by_name else acsylla.SSLVerifyFlags.PEER_IDENTITY
        )
        options["hostname_resolution"] = by_name
    if settings.cassandra_ssl_cert_file is not None and settings.cassandra_ssl_key_file is not None:
        options["ssl_cert"] = settings.cassandra_ssl_cert_file.read_text()
        options["ssl_private_key"] = settings.cassandra_ssl_key_file.read_text()
        if settings.cassandra_ssl_key_password is not None:
            options["ssl_private_key_password"] = settings.cassandra_ssl_key_password.get_secret_value()
    return options


def _system_ca_bundle() -> Path | None:
    cafile = ssl.get_default_verify_paths().cafile
    return Path(cafile) if cafile else None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
