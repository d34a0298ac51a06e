"""The error boundary: each transport failure lands in the class its handling depends on."""

from __future__ import annotations

import struct

import pytest
from acsylla import errors as acsylla
from cassandra import InvalidRequest, WriteTimeout
from cassandra.cluster import NoHostAvailable
from confluent_kafka import KafkaError, KafkaException

from scorecast.errors import ConfigError, PermanentError, RetryableError, ServiceUnavailableError
from scorecast.io.errors import acsylla_error, cassandra_error, kafka_error, transport_error


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            NoHostAvailable("Unable to connect to any servers", {"127.0.0.1:1": OSError("refused")}),
            ServiceUnavailableError,
        ),
        (WriteTimeout("timed out", write_type=0), RetryableError),
        (InvalidRequest("Key length of 70000 is longer than maximum of 65535"), PermanentError),
        (struct.error("'H' format requires 0 <= number <= 65535"), PermanentError),
    ],
)
def test_cassandra_errors_are_classified(error: Exception, expected: type[Exception]) -> None:
    translated = cassandra_error(error)
    assert isinstance(translated, expected)
    assert "\n" not in str(translated)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            acsylla.CassErrorLibNoHostsAvailable("No hosts available: Connect error 'connection refused'"),
            ServiceUnavailableError,
        ),
        (acsylla.CassErrorLibUnableToConnect("Unable to connect"), ServiceUnavailableError),
        (acsylla.CassErrorLibRequestTimedOut("Request timed out"), RetryableError),
        (acsylla.CassErrorServerReadTimeout("Read timeout"), RetryableError),
        (acsylla.CassErrorServerUnavailable("Unavailable"), RetryableError),
        (acsylla.CassErrorServerOverloaded("Overloaded"), RetryableError),
        (acsylla.CassErrorServerBadCredentials("Bad credentials"), ConfigError),
        (acsylla.CassErrorServerInvalidQuery("Invalid query: keyspace nope does not exist"), PermanentError),
        (acsylla.CassErrorServerSyntaxError("Syntax error"), PermanentError),
        (ValueError("invalid literal for int() with base 10: 'x'"), PermanentError),  # a value bind refused
        (AttributeError("a bug"), PermanentError),  # not acsylla's: retrying the same code cannot help
    ],
)
def test_acsylla_errors_are_classified(error: Exception, expected: type[Exception]) -> None:
    translated = acsylla_error(error)
    assert type(translated) is expected
    assert "\n" not in str(translated)


def test_an_unreachable_acsylla_cluster_names_the_settings_to_check() -> None:
    error = acsylla_error(acsylla.CassErrorLibNoHostsAvailable("No hosts available"), service="Cassandra at h:1")
    assert str(error) == (
        "Cassandra at h:1 unreachable (No hosts available); "
        "check SCORECAST_CASSANDRA_HOSTS and SCORECAST_CASSANDRA_PORT"
    )


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (KafkaError.MSG_SIZE_TOO_LARGE, PermanentError),
        (KafkaError._ALL_BROKERS_DOWN, ServiceUnavailableError),
        (KafkaError._MSG_TIMED_OUT, RetryableError),
        (KafkaError.TOPIC_AUTHORIZATION_FAILED, ConfigError),
    ],
)
def test_kafka_errors_are_classified(code: int, expected: type[Exception]) -> None:
    assert isinstance(kafka_error(KafkaError(code)), expected)
    assert isinstance(kafka_error(KafkaException(KafkaError(code))), expected)


def test_unreachable_kafka_names_the_setting() -> None:
    assert "SCORECAST_KAFKA_BOOTSTRAP" in str(kafka_error(KafkaError(KafkaError._TRANSPORT)))


def test_an_unreachable_cluster_is_named_with_the_settings_to_check() -> None:
    refused = ConnectionRefusedError(111, "Tried connecting to [('127.0.0.1', 1)]. Last error: Connection refused")
    error = cassandra_error(
        NoHostAvailable("Unable to connect to any servers", {"127.0.0.1:1": refused}),
        service="Cassandra at 127.0.0.1:1",
    )
    assert str(error) == (
        "Cassandra at 127.0.0.1:1 unreachable (Unable to connect to any servers: 127.0.0.1:1: Connection refused); "
        "check SCORECAST_CASSANDRA_HOSTS and SCORECAST_CASSANDRA_PORT"
    )


def test_only_driver_errors_are_transport_errors() -> None:
    assert isinstance(transport_error(KafkaException(KafkaError(KafkaError._TRANSPORT))), ServiceUnavailableError)
    assert isinstance(transport_error(NoHostAvailable("no host", {})), ServiceUnavailableError)
    assert isinstance(transport_error(InvalidRequest("unconfigured table x")), PermanentError)
    assert isinstance(transport_error(acsylla.CassErrorLibNoHostsAvailable("none")), ServiceUnavailableError)
    assert transport_error(ValueError("a bug, not a transport error")) is None
