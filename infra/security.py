"""TLS and authentication of the local services, derived from the settings clients connect with.

The local backend secures its services the way the settings say clients connect, so one set of variables
configures both sides:

- Kafka's client listener speaks SCORECAST_KAFKA_SECURITY_PROTOCOL. With SASL, the user of
  SCORECAST_KAFKA_USERNAME/PASSWORD is created when the storage is formatted (SCRAM credentials live in the
  KRaft metadata; PLAIN ones in the listener's JAAS line) and is also the brokers' own inter-broker user.
  A client certificate (SCORECAST_KAFKA_SSL_CERT_FILE) makes the broker require one. The controller listener
  stays PLAINTEXT on the loopback address.
- Cassandra encrypts client connections when SCORECAST_CASSANDRA_SSL is on (requiring a client certificate when
  SCORECAST_CASSANDRA_SSL_CERT_FILE is set) and runs PasswordAuthenticator when SCORECAST_CASSANDRA_USERNAME is
  set: `infra up` logs in as the default superuser cassandra/cassandra and creates that role.
- Both present SCORECAST_INFRA_TLS_CERT_FILE with its key SCORECAST_INFRA_TLS_KEY_FILE (PEM, the key
  unencrypted PKCS#8: Java 17 cannot read PBES2-encrypted keys), signed by the CA the clients trust.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from infra.errors import InfraError
from scorecast.settings import Settings

DEFAULT_SUPERUSER = ("cassandra", "cassandra")  # what a new PasswordAuthenticator cluster starts with


@dataclass(frozen=True)
class ServerCertificate:
    cert: Path
    key: Path

    def write_keystore(self, target: Path) -> Path:
        """The key and certificate chain in one PEM file, as both Kafka's and Cassandra's PEM keystores want
        them; readable by this user only."""
        private_file(target, self.key.read_text().rstrip("\n") + "\n" + self.cert.read_text())
        return target


@dataclass(frozen=True)
class KafkaSecurity:
    """How a local broker's client listener is secured."""

    protocol: str  # SASL_SSL, SSL or SASL_PLAINTEXT
    mechanism: str
    username: str | None
    password: SecretStr | None
    certificate: ServerCertificate | None
    truststore: Path | None  # the CA of client certificates (and of the brokers' own, inter-broker)
    client_auth: bool
    # librdkafka options of a client on this listener (the readiness probe); the password: not in repr
    client: tuple[tuple[str, Any], ...] = field(default=(), repr=False)

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @property
    def tls(self) -> bool:
        return self.protocol.endswith("SSL")

    def properties(self, keystore: Path | None) -> str:
        """server.properties lines: the listener's TLS and SASL set-up, the inter-broker login."""
        lines: list[str] = []
        if self.tls:
            assert keystore is not None
            lines += [
                "ssl.keystore.type=PEM",
                f"ssl.keystore.location={keystore}",
                # Prefixed by the listener: a SASL_SSL listener ignores the plain key (KIP-684)
                f"listener.name.{self.protocol.lower()}.ssl.client.auth={'required' if self.client_auth else 'none'}",
            ]
            if self.truststore is not None:
                lines += ["ssl.truststore.type=PEM", f"ssl.truststore.location={self.truststore}"]
        if self.sasl:
            assert self.username is not None
            assert self.password is not None
            listener = self.protocol.lower()
            password = _quoted(self.password.get_secret_value())
            login = f'username="{_quoted(self.username)}" password="{password}"'
            if self.mechanism == "PLAIN":  # PLAIN's users are listed in the JAAS line itself
                module = "org.apache.kafka.common.security.plain.PlainLoginModule"
                login += f' user_{self.username}="{password}"'
            else:  # SCRAM's are in the metadata log (format_arguments)
                module = "org.apache.kafka.common.security.scram.ScramLoginModule"
            lines += [
                f"sasl.enabled.mechanisms={self.mechanism}",
                f"sasl.mechanism.inter.broker.protocol={self.mechanism}",
                f"listener.name.{listener}.{self.mechanism.lower()}.sasl.jaas.config={module} required {login};",
            ]
        return "\n".join(lines)

    def format_arguments(self) -> list[str]:
        """`kafka-storage format` arguments that create the SCRAM user in the new cluster's metadata."""
        if not self.sasl or not self.mechanism.startswith("SCRAM-"):
            return []
        assert self.username is not None
        assert self.password is not None
        return ["--add-scram", f"{self.mechanism}=[name={self.username},password={self.password.get_secret_value()}]"]


@dataclass(frozen=True)
class CassandraSecurity:
    """How a local Cassandra node's client connections are secured."""

    certificate: ServerCertificate | None  # None: no TLS
    truststore: Path | None
    client_auth: bool
    password_auth: bool
    settings: Settings  # the clients' settings: the readiness probe and the role connect with them

    def yaml(self, keystore: Path | None) -> str:
        """cassandra.yaml lines for client_encryption_options (empty without TLS)."""
        if self.certificate is None:
            return ""
        assert keystore is not None
        lines = [
            "client_encryption_options:",
            "  enabled: true",
            "  optional: false",
            "  ssl_context_factory:",
            "    class_name: org.apache.cassandra.security.PEMBasedSslContextFactory",
            f"  keystore: {keystore}",
            f"  require_client_auth: {'true' if self.client_auth else 'false'}",
        ]
        if self.truststore is not None:
            lines.append(f"  truststore: {self.truststore}")
        return "\n".join(lines)

    @property
    def authenticator(self) -> str:
        return "PasswordAuthenticator" if self.password_auth else "AllowAllAuthenticator"

    def driver_options(self) -> dict[str, Any]:
        """cassandra-driver ``Cluster`` options of the readiness probe: the clients' TLS context, the default
        superuser's login."""
        from cassandra.auth import PlainTextAuthProvider

        from scorecast.security import cassandra_ssl_context

        options: dict[str, Any] = {"ssl_context": cassandra_ssl_context(self.settings)}
        if self.password_auth:
            options["auth_provider"] = PlainTextAuthProvider(*DEFAULT_SUPERUSER)
        return options

    def superuser_settings(self) -> Settings:
        """The clients' settings with the default superuser's login: the first start knows no other role."""
        if not self.password_auth:
            return self.settings
        user, password = DEFAULT_SUPERUSER
        return self.settings.model_copy(update={"cassandra_username": user, "cassandra_password": SecretStr(password)})


def kafka_security(settings: Settings) -> KafkaSecurity | None:
    """The local brokers' listener security the settings ask for; None for PLAINTEXT."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    client = settings.kafka_config()
    return KafkaSecurity(
        protocol=protocol,
        mechanism=settings.kafka_sasl_mechanism,
        username=settings.kafka_username,
        password=settings.kafka_password,
        certificate=_server_certificate(settings, "SCORECAST_KAFKA_SECURITY_PROTOCOL")
        if protocol.endswith("SSL")
        else None,
        truststore=settings.kafka_ssl_ca_file,
        client_auth=settings.kafka_ssl_cert_file is not None,
        client=tuple((key, value) for key, value in client.items() if key.startswith(("sasl.", "ssl.", "security."))),
    )


def cassandra_security(settings: Settings) -> CassandraSecurity | None:
    """The local nodes' client security the settings ask for; None when neither TLS nor a password is."""
    if not settings.cassandra_ssl and settings.cassandra_username is None:
        return None
    return CassandraSecurity(
        certificate=_server_certificate(settings, "SCORECAST_CASSANDRA_SSL") if settings.cassandra_ssl else None,
        truststore=settings.cassandra_ssl_ca_file,
        client_auth=settings.cassandra_ssl_cert_file is not None,
        password_auth=settings.cassandra_username is not None,
        settings=settings,
    )


def _server_certificate(settings: Settings, why: str) -> ServerCertificate:
    cert, key = settings.infra_tls_cert_file, settings.infra_tls_key_file
    if cert is None or key is None:
        raise InfraError(
            f"{why} asks the local services for TLS: set SCORECAST_INFRA_TLS_CERT_FILE and "
            "SCORECAST_INFRA_TLS_KEY_FILE to the certificate (and unencrypted PKCS#8 key) they present"
        )
    return ServerCertificate(Path(cert).resolve(), Path(key).resolve())


def ensure_role(security: CassandraSecurity) -> None:
    """Create the settings' login role (as the default superuser) unless it is the superuser itself; an existing
    role gets the settings' password. Idempotent: `infra up` runs it on every start."""
    settings = security.settings
    user = settings.cassandra_username
    if not security.password_auth or user is None or user == DEFAULT_SUPERUSER[0]:
        return
    from scorecast.io.cassandra import cassandra_session

    password = settings.cassandra_password.get_secret_value() if settings.cassandra_password else ""
    with cassandra_session(security.superuser_settings(), keyspace=False) as session:
        statement = "ROLE IF NOT EXISTS {user} WITH PASSWORD = %s AND LOGIN = true"
        session.execute(f"CREATE {statement.format(user=_role(user))}", (password,))
        session.execute(f"ALTER ROLE {_role(user)} WITH PASSWORD = %s", (password,))


def _role(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def private_file(path: Path, text: str) -> None:
    """Write ``text`` readable by this user only (config files that carry a password)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
