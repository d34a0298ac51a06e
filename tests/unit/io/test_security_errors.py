"""Refused credentials and failed TLS handshakes: one line that names the settings to fix, in the right class."""

from __future__ import annotations

from cassandra import AuthenticationFailed
from cassandra.cluster import NoHostAvailable
from confluent_kafka import KafkaError

from scorecast.errors import ConfigError, ServiceUnavailableError
from scorecast.io.errors import cassandra_error, kafka_error
from scorecast.io.kafka import BrokerState


def test_cassandra_refusing_the_credentials_everywhere_is_a_configuration_error() -> None:
    refused = AuthenticationFailed("Failed to authenticate to 10.0.0.1:9042: code=0100 [Bad credentials]")
    translated = cassandra_error(NoHostAvailable("Unable to connect to any servers", {"10.0.0.1:9042": refused}))
    assert type(translated) is ConfigError
    assert "SCORECAST_CASSANDRA_USERNAME and SCORECAST_CASSANDRA_PASSWORD" in str(translated)
    # one host down, another refusing: the endpoints may still be the problem
    mixed = {"10.0.0.1:9042": refused, "10.0.0.2:9042": OSError(111, "Connection refused")}
    assert type(cassandra_error(NoHostAvailable("Unable to connect to any servers", mixed))) is ServiceUnavailableError


def test_kafka_refusing_the_login_names_the_credentials() -> None:
    translated = kafka_error(KafkaError(KafkaError._AUTHENTICATION, "SASL authentication error: invalid credentials"))
    assert type(translated) is ConfigError
    assert "SCORECAST_KAFKA_USERNAME and SCORECAST_KAFKA_PASSWORD" in str(translated)


def test_a_failed_tls_handshake_names_the_tls_settings_and_is_retried() -> None:
    translated = kafka_error(KafkaError(KafkaError._SSL, "SSL handshake failed: certificate verify failed"))
    assert type(translated) is ServiceUnavailableError
    assert "SCORECAST_KAFKA_SSL_CA_FILE" in str(translated)


def test_all_brokers_down_is_explained_by_the_tls_or_login_failure_before_it() -> None:
    for cause in (KafkaError._SSL, KafkaError._AUTHENTICATION):
        state = BrokerState()
        state(KafkaError(cause, "the reason"))
        state(KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down"))
        down = state.down_error()
        assert down is not None
        assert down.code() == cause
