"""TLS and authentication settings: what each client is given, the combinations refused, secrets never shown."""

from __future__ import annotations

import asyncio
import logging
import ssl
from pathlib import Path
from typing import Any

import acsylla
import pytest
from confluent_kafka import Producer
from pydantic import SecretStr, ValidationError

from scorecast.app.cli import settings_error
from scorecast.io.acsylla_cluster import tls_options
from scorecast.security import cassandra_ssl_context
from scorecast.settings import Settings
from tests.certificates import TestAuthority

SECRETS = ("kafka-pw-1", "kafka-key-pw-2", "cassandra-pw-3", "cassandra-key-pw-4")


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> TestAuthority:
    return TestAuthority(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def secure(authority: TestAuthority) -> Settings:
    """Every security setting on, with an encrypted client key per service."""
    kafka_client = authority.issue("kafka-client", key_password=SECRETS[1])
    cassandra_client = authority.issue("cassandra-client", key_password=SECRETS[3])
    return Settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_username="scorer",
        kafka_password=SecretStr(SECRETS[0]),
        kafka_ssl_ca_file=authority.ca_file,
        kafka_ssl_cert_file=kafka_client.cert,
        kafka_ssl_key_file=kafka_client.key,
        kafka_ssl_key_password=SecretStr(SECRETS[1]),
        cassandra_username="scorer",
        cassandra_password=SecretStr(SECRETS[2]),
        cassandra_ssl=True,
        cassandra_ssl_ca_file=authority.ca_file,
        cassandra_ssl_cert_file=cassandra_client.cert,
        cassandra_ssl_key_file=cassandra_client.key,
        cassandra_ssl_key_password=SecretStr(SECRETS[3]),
    )


def test_kafka_clients_get_sasl_and_tls_and_librdkafka_accepts_them(secure: Settings) -> None:
    config = secure.kafka_config()
    assert {key: config[key] for key in config if key.startswith(("sasl.", "ssl.", "security."))} == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "scorer",
        "sasl.password": SECRETS[0],
        "ssl.ca.location": str(secure.kafka_ssl_ca_file),
        "ssl.certificate.location": str(secure.kafka_ssl_cert_file),
        "ssl.key.location": str(secure.kafka_ssl_key_file),
        "ssl.key.password": SECRETS[1],
        "ssl.endpoint.identification.algorithm": "https",
    }
    # librdkafka loads the CA, the certificate and the encrypted key when the client is created: a wrong key
    # password or an unreadable file fails here. No broker is contacted.
    Producer({**config, "bootstrap.servers": "127.0.0.1:1"}).flush(0)


def test_a_wrong_kafka_key_password_is_caught_by_librdkafka(secure: Settings) -> None:
    config = secure.model_copy(update={"kafka_ssl_key_password": SecretStr("wrong")}).kafka_config()
    with pytest.raises(Exception, match=r"(?i)ssl|key"):
        Producer({**config, "bootstrap.servers": "127.0.0.1:1"})


def test_plaintext_kafka_gets_no_security_options() -> None:
    config = Settings().kafka_config()
    assert config["security.protocol"] == "PLAINTEXT"
    assert not [key for key in config if key.startswith(("sasl.", "ssl."))]


def test_cassandra_driver_gets_a_verifying_tls_context_with_the_client_certificate(secure: Settings) -> None:
    context = cassandra_ssl_context(secure)
    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "scorecast test CA"),),)]
    unverified = cassandra_ssl_context(secure.model_copy(update={"cassandra_ssl_verify_hostname": False}))
    assert unverified is not None
    assert not unverified.check_hostname
    assert unverified.verify_mode == ssl.CERT_REQUIRED  # the chain is still checked
    with pytest.raises(ssl.SSLError):  # the key is really loaded with its password
        cassandra_ssl_context(secure.model_copy(update={"cassandra_ssl_key_password": SecretStr("wrong")}))
    assert cassandra_ssl_context(Settings()) is None


def test_acsylla_gets_pem_text_and_verifies_addresses_or_names(secure: Settings) -> None:
    options = tls_options(secure)
    assert options["ssl_enabled"] is True
    assert options["ssl_trusted_cert"] == Path(str(secure.cassandra_ssl_ca_file)).read_text()
    assert options["ssl_cert"].startswith("-----BEGIN CERTIFICATE-----")
    assert options["ssl_private_key"].startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert options["ssl_private_key_password"] == SECRETS[3]
    assert options["ssl_verify_flags"] == acsylla.SSLVerifyFlags.PEER_IDENTITY
    assert options["hostname_resolution"] is False
    by_name = tls_options(secure.model_copy(update={"cassandra_hosts": ["cassandra-0.cassandra"]}))
    assert by_name["ssl_verify_flags"] == acsylla.SSLVerifyFlags.PEER_IDENTITY_DNS
    assert by_name["hostname_resolution"] is True
    chain_only = tls_options(secure.model_copy(update={"cassandra_ssl_verify_hostname": False}))
    assert chain_only["ssl_verify_flags"] == acsylla.SSLVerifyFlags.PEER_CERT
    assert tls_options(Settings()) == {}
    # the C++ driver loads the PEM text into its SSL context when the cluster is created (no connection yet)
    asyncio.run(_acsylla_cluster(options))
    with pytest.raises(Exception, match=r"(?i)ssl|cert"):
        asyncio.run(_acsylla_cluster({**options, "ssl_trusted_cert": "not a certificate"}))


async def _acsylla_cluster(options: dict[str, Any]) -> None:
    acsylla.create_cluster(["127.0.0.1"], port=1, **options)


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"kafka_security_protocol": "SASL_SSL"}, "SCORECAST_KAFKA_USERNAME"),
        ({"kafka_security_protocol": "SASL_SSL", "kafka_username": "u"}, "SCORECAST_KAFKA_PASSWORD"),
        ({"kafka_username": "u", "kafka_password": "p"}, "SCORECAST_KAFKA_SECURITY_PROTOCOL=PLAINTEXT"),
        ({"kafka_ssl_ca_file": "CA"}, "SCORECAST_KAFKA_SSL_CA_FILE"),
        ({"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_username": "u", "kafka_password": "p",
          "kafka_ssl_key_password": "k"}, "SCORECAST_KAFKA_SSL_KEY_PASSWORD"),
        ({"kafka_security_protocol": "SSL", "kafka_ssl_cert_file": "CA"}, "SCORECAST_KAFKA_SSL_KEY_FILE"),
        ({"cassandra_ssl_ca_file": "CA"}, "SCORECAST_CASSANDRA_SSL is off"),
        ({"cassandra_ssl": True, "cassandra_ssl_key_file": "CA"}, "SCORECAST_CASSANDRA_SSL_CERT_FILE"),
        ({"cassandra_ssl": True, "cassandra_ssl_key_password": "k"}, "SCORECAST_CASSANDRA_SSL_KEY_PASSWORD"),
        ({"kafka_sasl_mechanism": "SCRAM-SHA-1"}, "SCORECAST_KAFKA_SASL_MECHANISM"),
        ({"kafka_security_protocol": "SSL", "kafka_ssl_ca_file": "/nonexistent/ca.pem"}, "SCORECAST_KAFKA_SSL_CA_FILE"),
    ],
)  # fmt: skip
def test_settings_that_would_connect_less_securely_or_not_at_all_are_refused(
    settings: dict[str, Any], named: str, authority: TestAuthority
) -> None:
    values = {key: str(authority.ca_file) if value == "CA" else value for key, value in settings.items()}
    with pytest.raises(ValidationError) as caught:
        Settings(**values)  # type: ignore[arg-type]
    line = str(settings_error(caught.value))
    assert named in line
    assert "\n" not in line


def test_scram_over_tls_with_the_system_cas_is_accepted() -> None:
    settings = Settings(
        kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="SCRAM-SHA-256", kafka_username="u",
        kafka_password=SecretStr("p"),
    )  # fmt: skip
    assert "ssl.ca.location" not in settings.kafka_config()


def test_secrets_never_show_in_repr_str_json_or_logs(secure: Settings, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("scorecast.test").info("settings: %s / %r", secure, secure)
    shown = "\n".join([repr(secure), str(secure), secure.model_dump_json(), f"{secure}", caplog.text])
    assert not [secret for secret in SECRETS if secret in shown]
    # environment() is for a child process's variables only: it carries the values, so it must never be logged
    assert set(SECRETS) <= set(secure.environment().values())


def test_security_settings_round_trip_through_a_child_processs_variables(
    secure: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in secure.environment().items():
        monkeypatch.setenv(name, value)
    assert Settings() == secure


def test_an_empty_file_variable_means_none(monkeypatch: pytest.MonkeyPatch) -> None:
    # a deployment template sets every variable, the unused ones to ""
    for name in ("KAFKA_SSL_CA_FILE", "KAFKA_SSL_CERT_FILE", "KAFKA_SSL_KEY_FILE", "CASSANDRA_SSL_CA_FILE"):
        monkeypatch.setenv(f"SCORECAST_{name}", "")
    settings = Settings()
    assert settings.kafka_ssl_ca_file is None
    assert settings.cassandra_ssl_ca_file is None


@pytest.mark.parametrize(("verify", "accepted"), [(True, False), (False, True)])
def test_cassandra_drivers_context_checks_the_name_in_the_certificate(
    authority: TestAuthority, verify: bool, accepted: bool
) -> None:
    """A server whose certificate names another host: refused unless hostname verification is off (the chain is
    still checked either way). In memory, no socket."""
    server_cert = authority.issue("elsewhere", hosts=("cassandra.elsewhere.example",))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(server_cert.cert, server_cert.key)
    settings = Settings(
        cassandra_ssl=True, cassandra_ssl_ca_file=authority.ca_file, cassandra_ssl_verify_hostname=verify
    )
    client = cassandra_ssl_context(settings)
    assert client is not None
    assert _handshake(client, server, "127.0.0.1") is accepted
    # a certificate from a CA the settings do not name is refused, hostname verification or not
    other = TestAuthority(authority.folder / "other", name="another CA")
    untrusting = cassandra_ssl_context(settings.model_copy(update={"cassandra_ssl_ca_file": other.ca_file}))
    assert untrusting is not None
    assert _handshake(untrusting, server, "127.0.0.1") is False


def _handshake(client: ssl.SSLContext, server: ssl.SSLContext, server_hostname: str) -> bool:
    """Run a TLS handshake between the two contexts over memory BIOs; True if the client accepted the server."""
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    # the driver passes the address it connects to as the server name when check_hostname is on
    tls_client = client.wrap_bio(c_in, c_out, server_hostname=server_hostname if client.check_hostname else None)
    tls_server = server.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        for end in (tls_client, tls_server):
            try:
                end.do_handshake()
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLCertVerificationError:
                return False
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if tls_client.version() is not None and tls_server.version() is not None:
            return True
    return False
