"""The error boundary: cassandra-driver, acsylla and confluent-kafka exceptions become scorecast's own hierarchy.

Everything above the I/O layer decides on the class (``RetryableError`` vs ``PermanentError`` vs
``ConfigError``), never on a driver type or a message string.
"""

from __future__ import annotations

import struct

from cassandra import (
    AuthenticationFailed,
    CoordinationFailure,
    DriverException,
    InvalidRequest,
    OperationTimedOut,
    ReadTimeout,
    Unauthorized,
    Unavailable,
    UnresolvableContactPoints,
    WriteTimeout,
)
from cassandra.cluster import NoHostAvailable
from confluent_kafka import KafkaError, KafkaException

from scorecast.errors import (
    ConfigError,
    PermanentError,
    RetryableError,
    ScorecastError,
    ServiceUnavailableError,
)

# librdkafka errors that a record causes by itself: the same record fails the same way every time.
_PERMANENT_KAFKA_CODES = frozenset(
    {
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.INVALID_MSG_SIZE,
        KafkaError.INVALID_RECORD,
        KafkaError.INVALID_MSG,
        KafkaError._INVALID_ARG,
        KafkaError._KEY_SERIALIZATION,
        KafkaError._VALUE_SERIALIZATION,
    }
)
_CONFIG_KAFKA_CODES = frozenset(
    {
        KafkaError._UNKNOWN_TOPIC,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.GROUP_AUTHORIZATION_FAILED,
        KafkaError.SASL_AUTHENTICATION_FAILED,
        KafkaError._AUTHENTICATION,
    }
)
CASSANDRA_SETTINGS = "SCORECAST_CASSANDRA_HOSTS and SCORECAST_CASSANDRA_PORT"
_UNREACHABLE_KAFKA_CODES = frozenset(
    {KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT, KafkaError._RESOLVE, KafkaError._TIMED_OUT}
)


def kafka_error(error: KafkaError | KafkaException, what: str = "Kafka", *, service: str = "Kafka") -> ScorecastError:
    """The scorecast error for a librdkafka error (or the exception that carries one). ``what`` prefixes the
    message; ``service`` names the cluster in an unreachable error (e.g. "Kafka at host:9092")."""
    if isinstance(error, KafkaException):
        error = error.args[0] if error.args and isinstance(error.args[0], KafkaError) else None  # type: ignore[assignment]
        if error is None:
            return RetryableError(f"{what}: unknown Kafka error")
    assert isinstance(error, KafkaError)
    code = error.code()
    text = error.str()
    if code in _PERMANENT_KAFKA_CODES:
        return PermanentError(f"{what}: {text}")
    if code in (KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED):
        return ConfigError(f"{what}: {text}; check SCORECAST_KAFKA_USERNAME and SCORECAST_KAFKA_PASSWORD")
    if code in _CONFIG_KAFKA_CODES:
        return ConfigError(f"{what}: {text}")
    if code in _UNREACHABLE_KAFKA_CODES:
        return ServiceUnavailableError(service, "SCORECAST_KAFKA_BOOTSTRAP", text)
    if code == KafkaError._SSL:  # a TLS handshake failed (untrusted or misnamed certificate): retried, like refused
        return ServiceUnavailableError(
            service, "SCORECAST_KAFKA_SSL_CA_FILE and SCORECAST_KAFKA_SECURITY_PROTOCOL", text
        )
    if error.fatal():
        return ConfigError(f"{what}: {text}")
    return RetryableError(f"{what}: {text}")


def cassandra_error(error: BaseException, what: str = "Cassandra", *, service: str = "Cassandra") -> ScorecastError:
    """The scorecast error for a cassandra-driver exception (or a value the driver could not encode).
    ``what`` prefixes the message; ``service`` names the cluster in an unreachable error."""
    if isinstance(error, ScorecastError):
        return error
    if isinstance(error, NoHostAvailable | UnresolvableContactPoints):
        return _no_host_error(error, service)
    if isinstance(error, Unavailable | ReadTimeout | WriteTimeout | OperationTimedOut | CoordinationFailure):
        return RetryableError(f"{what}: {type(error).__name__}: {_first_line(error)}")
    if isinstance(error, AuthenticationFailed | Unauthorized):
        return ConfigError(f"{what}: {_first_line(error)}; check SCORECAST_CASSANDRA_USERNAME")
    if isinstance(error, InvalidRequest | struct.error | ValueError | TypeError | OverflowError):
        # The coordinator or the driver refused these values: the same row fails the same way every time.
        return PermanentError(f"{what}: {type(error).__name__}: {_first_line(error)}")
    return RetryableError(f"{what}: {type(error).__name__}: {_first_line(error)}")


# acsylla (the DataStax C++ driver) errors by what the caller should do; any other CassException is transient.
# Matched by class name, so that this module (imported by every process) does not import acsylla, which only
# the lookup API and the scorer's acsylla sink use.
_ACSYLLA_UNREACHABLE = frozenset(
    {
        "CassErrorLibNoHostsAvailable",
        "CassErrorLibUnableToConnect",
        "CassErrorLibHostResolution",
        "CassExceptionConnectionError",
    }
)
_ACSYLLA_CONFIG = frozenset(
    {
        "CassErrorServerBadCredentials",
        "CassErrorServerUnauthorized",
        "CassErrorServerConfigError",
        "CassErrorLibUnableToSetKeyspace",
        "CassErrorSourceSsl",
    }
)
_ACSYLLA_PERMANENT = frozenset(
    {
        "CassErrorServerInvalidQuery",
        "CassErrorServerSyntaxError",
        "CassErrorServerAlreadyExists",
        "CassErrorServerFunctionFailure",
        "CassErrorLibInvalidValueType",
        "CassErrorLibInvalidData",
        "CassErrorLibMessageEncode",
        "CassErrorLibBadParams",
        "CassErrorLibNullValue",
    }
)


def _acsylla_classes(error: BaseException) -> frozenset[str]:
    """The names of ``error``'s acsylla classes (empty when it is not acsylla's)."""
    return frozenset(c.__name__ for c in type(error).__mro__ if c.__module__.startswith("acsylla"))


def acsylla_error(error: BaseException, what: str = "Cassandra", *, service: str = "Cassandra") -> ScorecastError:
    """The scorecast error for an acsylla exception, as ``cassandra_error`` is for cassandra-driver's.

    A value acsylla cannot bind (ValueError, TypeError, OverflowError) is permanent, like any other error that
    is not acsylla's: retrying code that raised it gives the same answer."""
    if isinstance(error, ScorecastError):
        return error
    classes = _acsylla_classes(error)
    if classes & _ACSYLLA_UNREACHABLE:
        return ServiceUnavailableError(service, CASSANDRA_SETTINGS, _first_line(error))
    if classes & _ACSYLLA_CONFIG:
        return ConfigError(f"{what}: {_first_line(error)}; check SCORECAST_CASSANDRA_USERNAME and the keyspace")
    if classes & _ACSYLLA_PERMANENT or "CassException" not in classes:
        return PermanentError(f"{what}: {type(error).__name__}: {_first_line(error)}")
    return RetryableError(f"{what}: {type(error).__name__}: {_first_line(error)}")


def _no_host_error(error: NoHostAvailable | UnresolvableContactPoints, service: str) -> ScorecastError:
    """No host answered. Refused credentials are a configuration error (every host gives the same answer, so
    retrying cannot help); anything else names the endpoints (a failed TLS handshake shows in the detail)."""
    detail = _unreachable_detail(error)
    causes = (
        list(error.errors.values()) if isinstance(error, NoHostAvailable) and isinstance(error.errors, dict) else []
    )
    if causes and all(isinstance(cause, AuthenticationFailed) for cause in causes):
        return ConfigError(
            f"{service} refused the credentials ({detail}); check SCORECAST_CASSANDRA_USERNAME and "
            "SCORECAST_CASSANDRA_PASSWORD"
        )
    return ServiceUnavailableError(service, CASSANDRA_SETTINGS, detail)


def _unreachable_detail(error: NoHostAvailable | UnresolvableContactPoints) -> str:
    """ "Unable to connect to any servers: 127.0.0.1:1: Connection refused" rather than the driver's repr."""
    if isinstance(error, UnresolvableContactPoints):
        return "no contact point could be resolved"
    reason = str(error.args[0]) if error.args else "no host available"
    causes = error.errors if isinstance(error.errors, dict) else {}
    hosts = "; ".join(f"{host}: {_cause(cause)}" for host, cause in list(causes.items())[:3])
    return f"{reason}: {hosts}" if hosts else reason


def _cause(error: object) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.rsplit("Last error: ", 1)[-1]
    return _first_line(error) if isinstance(error, BaseException) else str(error)


def _first_line(error: BaseException, limit: int = 300) -> str:
    text = str(error).strip().splitlines()
    line = text[0] if text else type(error).__name__
    return line if len(line) <= limit else line[: limit - 1] + "…"


def transport_error(error: BaseException) -> ScorecastError | None:
    """The scorecast error for a cassandra-driver, acsylla or librdkafka exception that escaped translation at its
    call site (the CLI's last boundary); None for anything else, which is a bug to show in full."""
    if isinstance(error, KafkaException):
        return kafka_error(error)
    if isinstance(error, NoHostAvailable | DriverException):
        return cassandra_error(error)
    if "CassException" in _acsylla_classes(error):
        return acsylla_error(error)
    return None
