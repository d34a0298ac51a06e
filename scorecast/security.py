"""TLS and authentication settings turned into each client's options, and the rules that keep them consistent.

Every Kafka client gets its options through ``Settings.kafka_config()`` (``kafka_tls_config`` here), every
cassandra-driver session through ``scorecast.cassandra.connect`` (``cassandra_ssl_context``); the acsylla
clients (the lookup API's, the scorer's prediction sink) theirs from the same settings
(``scorecast.io.acsylla_cluster.tls_options``).
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scorecast.settings import Settings


def check_security(settings: Settings) -> Settings:
    """``settings`` if they are consistent, else ValueError naming the variables: a setting that would be
    ignored (a CA file while Kafka speaks PLAINTEXT) means a connection less secure than the operator asked for,
    and a missing half (SASL without a user, a certificate without its key) one that fails only at connect."""
    problems: list[str] = []
    protocol = settings.kafka_security_protocol
    if protocol.startswith("SASL_"):
        if settings.kafka_username is None or settings.kafka_password is None:
            problems.append(
                f"SCORECAST_KAFKA_SECURITY_PROTOCOL={protocol} needs SCORECAST_KAFKA_USERNAME and "
                "SCORECAST_KAFKA_PASSWORD"
            )
    elif settings.kafka_username is not None or settings.kafka_password is not None:
        problems.append(
            f"SCORECAST_KAFKA_USERNAME/PASSWORD are set but SCORECAST_KAFKA_SECURITY_PROTOCOL={protocol} sends no "
            "credentials: use SASL_SSL"
        )
    tls_fields = ("ca_file", "cert_file", "key_file", "key_password")
    if not protocol.endswith("SSL"):
        problems += [
            f"SCORECAST_KAFKA_SSL_{name.upper()} is set but SCORECAST_KAFKA_SECURITY_PROTOCOL={protocol} does "
            "not use TLS: use SSL or SASL_SSL"
            for name in tls_fields
            if getattr(settings, f"kafka_ssl_{name}") is not None
        ]
    if not settings.cassandra_ssl:
        problems += [
            f"SCORECAST_CASSANDRA_SSL_{name.upper()} is set but SCORECAST_CASSANDRA_SSL is off"
            for name in tls_fields
            if getattr(settings, f"cassandra_ssl_{name}") is not None
        ]
    for service in ("kafka", "cassandra"):
        problems += _client_certificate_problems(settings, service)
    if (settings.infra_tls_cert_file is None) != (settings.infra_tls_key_file is None):
        problems.append("SCORECAST_INFRA_TLS_CERT_FILE and SCORECAST_INFRA_TLS_KEY_FILE go together")
    if problems:
        raise ValueError("; ".join(problems))
    return settings


def _client_certificate_problems(settings: Settings, service: str) -> list[str]:
    cert = getattr(settings, f"{service}_ssl_cert_file")
    key = getattr(settings, f"{service}_ssl_key_file")
    password = getattr(settings, f"{service}_ssl_key_password")
    prefix = f"SCORECAST_{service.upper()}_SSL"
    if (cert is None) != (key is None):
        return [f"{prefix}_CERT_FILE and {prefix}_KEY_FILE go together (a client certificate and its key)"]
    if password is not None and key is None:
        return [f"{prefix}_KEY_PASSWORD is set without {prefix}_KEY_FILE"]
    return []


def kafka_tls_config(settings: Settings) -> dict[str, Any]:
    """librdkafka's TLS options (protocol SSL or SASL_SSL); unset files leave librdkafka's defaults (the
    system's CAs, no client certificate)."""
    config: dict[str, Any] = {
        # librdkafka's default is "https" already; stated so that turning it off is visible in one place.
        "ssl.endpoint.identification.algorithm": "https" if settings.kafka_ssl_verify_hostname else "none",
    }
    if settings.kafka_ssl_ca_file is not None:
        config["ssl.ca.location"] = str(settings.kafka_ssl_ca_file)
    if settings.kafka_ssl_cert_file is not None and settings.kafka_ssl_key_file is not None:
        config["ssl.certificate.location"] = str(settings.kafka_ssl_cert_file)
        config["ssl.key.location"] = str(settings.kafka_ssl_key_file)
    if settings.kafka_ssl_key_password is not None:
        config["ssl.key.password"] = settings.kafka_ssl_key_password.get_secret_value()
    return config


def cassandra_ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context of cassandra-driver sessions, None while ``cassandra_ssl`` is off. The node's certificate
    is always verified against the CA; with ``cassandra_ssl_verify_hostname`` it must also name the address the
    driver connects to (the driver passes it as the server name), for discovered peers an IP address."""
    if not settings.cassandra_ssl:
        return None
    ca = settings.cassandra_ssl_ca_file
    context = ssl.create_default_context(cafile=str(ca) if ca is not None else None)
    context.check_hostname = settings.cassandra_ssl_verify_hostname
    if settings.cassandra_ssl_cert_file is not None and settings.cassandra_ssl_key_file is not None:
        password = settings.cassandra_ssl_key_password
        context.load_cert_chain(
            settings.cassandra_ssl_cert_file,
            settings.cassandra_ssl_key_file,
            password=password.get_secret_value() if password is not None else None,
        )
    return context
