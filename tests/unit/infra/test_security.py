"""The local services' TLS and authentication follow the clients' settings: listener, SCRAM user, keystores."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from infra.errors import InfraError
from infra.security import cassandra_security, kafka_security
from scorecast.settings import Settings
from tests.certificates import TestAuthority

PASSWORD = 'pw-with-"quote-77'


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> TestAuthority:
    return TestAuthority(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def secure(authority: TestAuthority) -> Settings:
    server = authority.issue("server")
    client = authority.issue("client")
    return Settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_username="scorer",
        kafka_password=SecretStr(PASSWORD),
        kafka_ssl_ca_file=authority.ca_file,
        cassandra_ssl=True,
        cassandra_ssl_ca_file=authority.ca_file,
        cassandra_ssl_cert_file=client.cert,
        cassandra_ssl_key_file=client.key,
        cassandra_username="scorer",
        cassandra_password=SecretStr(PASSWORD),
        infra_tls_cert_file=server.cert,
        infra_tls_key_file=server.key,
    )


def test_plaintext_settings_leave_the_services_open() -> None:
    assert kafka_security(Settings()) is None
    assert cassandra_security(Settings()) is None


def test_a_scram_listener_over_tls_with_its_user_created_at_format_time(secure: Settings, tmp_path: Path) -> None:
    security = kafka_security(secure)
    assert security is not None
    properties = security.properties(tmp_path / "keystore.pem").splitlines()
    assert f"ssl.keystore.location={tmp_path / 'keystore.pem'}" in properties
    assert f"ssl.truststore.location={secure.kafka_ssl_ca_file}" in properties
    # no client certificate in the settings: none required (on the listener: SASL_SSL ignores the plain key)
    assert "listener.name.sasl_ssl.ssl.client.auth=none" in properties
    with_certificate = kafka_security(secure.model_copy(update={"kafka_ssl_cert_file": secure.kafka_ssl_ca_file}))
    assert with_certificate is not None
    assert "listener.name.sasl_ssl.ssl.client.auth=required" in with_certificate.properties(tmp_path / "k.pem")
    assert "sasl.enabled.mechanisms=SCRAM-SHA-512" in properties
    (jaas,) = [line for line in properties if "sasl.jaas.config" in line]
    assert jaas.startswith("listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=")
    assert 'username="scorer" password="pw-with-\\"quote-77";' in jaas
    assert security.format_arguments() == ["--add-scram", f"SCRAM-SHA-512=[name=scorer,password={PASSWORD}]"]
    assert PASSWORD not in repr(security)


def test_plain_users_are_listed_in_the_jaas_line(secure: Settings, tmp_path: Path) -> None:
    security = kafka_security(secure.model_copy(update={"kafka_sasl_mechanism": "PLAIN"}))
    assert security is not None
    (jaas,) = [line for line in security.properties(tmp_path / "k.pem").splitlines() if "jaas" in line]
    assert "PlainLoginModule" in jaas
    assert 'user_scorer="pw-with-\\"quote-77"' in jaas
    assert security.format_arguments() == []


def test_cassandra_encrypts_requires_the_client_certificate_and_a_password(secure: Settings, tmp_path: Path) -> None:
    security = cassandra_security(secure)
    assert security is not None
    assert security.authenticator == "PasswordAuthenticator"
    text = security.yaml(tmp_path / "keystore.pem")
    assert "client_encryption_options:\n  enabled: true\n  optional: false" in text
    assert "PEMBasedSslContextFactory" in text
    assert "require_client_auth: true" in text
    assert f"truststore: {secure.cassandra_ssl_ca_file}" in text
    first_login = security.superuser_settings()
    assert first_login.cassandra_username == "cassandra"
    password_only = cassandra_security(Settings(cassandra_username="scorer", cassandra_password=SecretStr(PASSWORD)))
    assert password_only is not None
    assert password_only.yaml(None) == ""
    assert password_only.authenticator == "PasswordAuthenticator"


def test_tls_without_a_server_certificate_is_one_line_naming_the_settings(secure: Settings) -> None:
    bare = secure.model_copy(update={"infra_tls_cert_file": None, "infra_tls_key_file": None})
    for build in (kafka_security, cassandra_security):
        with pytest.raises(InfraError, match="SCORECAST_INFRA_TLS_CERT_FILE and SCORECAST_INFRA_TLS_KEY_FILE"):
            build(bare)


def test_the_keystore_holds_key_then_certificate_for_this_user_only(secure: Settings, tmp_path: Path) -> None:
    security = kafka_security(secure)
    assert security is not None
    assert security.certificate is not None
    keystore = security.certificate.write_keystore(tmp_path / "conf" / "keystore.pem")
    text = keystore.read_text()
    assert text.index("-----BEGIN PRIVATE KEY-----") < text.index("-----BEGIN CERTIFICATE-----")
    assert keystore.stat().st_mode & 0o777 == 0o600
