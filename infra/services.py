"""How to configure, start and probe each local service: Kafka (KRaft) and Cassandra, as plain JVM processes.

A service is one node: the single-node default (``kafka``, ``cassandra`` on 127.0.0.1), or node i of an N-node
cluster (``kafka-i``, ``cassandra-i`` on 127.0.0.i; Linux routes all of 127/8 to loopback, so each node binds
its own address and the same port numbers). ``cluster_nodes`` builds either.
"""

from __future__ import annotations

import base64
import logging
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Protocol

from infra.jars import INFRA_ROOT
from infra.security import CassandraSecurity, KafkaSecurity

LOOPBACK = "127.0.0.1"

# JDK 17 module flags of Cassandra 5.0 (conf/jvm17-server.options).
_CASSANDRA_EXPORTS = [
    "java.base/jdk.internal.misc", "java.management.rmi/com.sun.jmx.remote.internal.rmi",
    "java.management/com.sun.jmx.remote.security", "java.rmi/sun.rmi.registry", "java.rmi/sun.rmi.server",
    "java.sql/java.sql", "java.base/java.lang.ref", "jdk.unsupported/sun.misc",
    "jdk.attach/sun.tools.attach", "jdk.compiler/com.sun.tools.javac.file",
]  # fmt: skip
_CASSANDRA_OPENS = [
    "java.base/java.lang.module", "java.base/jdk.internal.loader", "java.base/jdk.internal.ref",
    "java.base/jdk.internal.reflect", "java.base/jdk.internal.math", "java.base/jdk.internal.module",
    "java.base/jdk.internal.util.jar", "java.base/sun.nio.ch", "java.base/java.io",
    "java.base/java.lang.reflect", "java.base/java.lang", "java.base/java.util", "java.base/java.nio",
    "jdk.management/com.sun.management.internal", "jdk.compiler/com.sun.tools.javac",
]  # fmt: skip


@dataclass(frozen=True)
class ServiceLayout:
    """Where one service keeps its data, logs and generated config under the infra folder."""

    home: Path
    name: str

    @property
    def data_dir(self) -> Path:
        return self.home / "data" / self.name

    @property
    def log_dir(self) -> Path:
        return self.home / "logs" / self.name

    @property
    def conf_dir(self) -> Path:
        return self.home / "conf" / self.name

    @property
    def console_log(self) -> Path:
        return self.log_dir / "console.log"

    @property
    def pid_file(self) -> Path:
        return self.home / "run" / f"{self.name}.pid"


class Address(NamedTuple):
    """One socket a service binds, and the setting that chooses its port."""

    setting: str
    host: str
    port: int


class Service(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def addresses(self) -> list[Address]:
        """Every socket the service binds."""
        ...

    @property
    def ports(self) -> dict[str, int]:
        """Every port the service binds, by the setting that chooses it."""
        ...

    @property
    def start_timeout_s(self) -> float: ...

    @property
    def after(self) -> tuple[str, ...]:
        """Services that must answer before this one starts (a Cassandra node joins a ring one at a time)."""
        ...

    @property
    def endpoint(self) -> str: ...

    def main_log(self, layout: ServiceLayout) -> Path: ...

    def prepare(self, layout: ServiceLayout, java: str, classpath: Path) -> None: ...

    def command(self, layout: ServiceLayout, java: str, classpath: Path) -> list[str]: ...

    def ready(self) -> bool: ...


def _render(template: Path, target: Path, **values: object) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    text = template.read_text()
    for key, value in values.items():
        text = text.replace("{" + key + "}", str(value))
    target.write_text(text)


def _marker(layout: ServiceLayout) -> list[str]:
    # Lets `infra down` recognise our JVMs by their command line, never someone else's.
    return [f"-Dscorecast.service={layout.name}", f"-Dscorecast.home={layout.home.resolve()}"]


@dataclass(frozen=True)
class Kafka:
    port: int = 9092
    controller_port: int = 9093
    heap_mb: int = 512
    name: str = "kafka"
    start_timeout_s: float = 90.0
    host: str = LOOPBACK
    node_id: int = 1
    voters: str = ""  # controller.quorum.voters; empty: this node alone
    replication: int = 1  # default and internal topics' replication factor
    min_insync: int = 1
    cluster_id: str | None = None  # every node of a cluster is formatted with the same one; None: a new one
    after: tuple[str, ...] = ()
    security: KafkaSecurity | None = None  # None: a PLAINTEXT listener

    @property
    def addresses(self) -> list[Address]:
        return [
            Address("SCORECAST_KAFKA_BOOTSTRAP", self.host, self.port),
            Address("SCORECAST_KAFKA_CONTROLLER_PORT", self.host, self.controller_port),
        ]

    @property
    def ports(self) -> dict[str, int]:
        return {a.setting: a.port for a in self.addresses}

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    def main_log(self, layout: ServiceLayout) -> Path:
        return layout.log_dir / "server.log"

    def write_config(self, layout: ServiceLayout) -> Path:
        properties = layout.conf_dir / "server.properties"
        if self.security is not None and self.security.certificate is not None:
            self.security.certificate.write_keystore(self._keystore(layout))
        _render(INFRA_ROOT / "kafka" / "server.properties", properties, **self.config_values(layout))
        if self.security is not None:
            properties.chmod(0o600)  # a SASL listener's JAAS line holds the password
        return properties

    def _keystore(self, layout: ServiceLayout) -> Path:
        return (layout.conf_dir / "keystore.pem").resolve()

    def config_values(self, layout: ServiceLayout) -> dict[str, object]:
        """What fills server.properties' placeholders."""
        return {
            "node_id": self.node_id,
            "host": self.host,
            "port": self.port,
            "controller_port": self.controller_port,
            "voters": self.voters or f"{self.node_id}@{self.host}:{self.controller_port}",
            "replication": self.replication,
            "min_insync": self.min_insync,
            "data_dir": layout.data_dir.resolve(),
            "listener": self.security.protocol if self.security else "PLAINTEXT",
            "security": self.security.properties(self._keystore(layout)) if self.security else "",
        }

    def prepare(self, layout: ServiceLayout, java: str, classpath: Path) -> None:
        properties = self.write_config(layout)
        if (layout.data_dir / "meta.properties").exists():
            return
        layout.data_dir.mkdir(parents=True, exist_ok=True)
        cluster_id = self.cluster_id or kafka_cluster_id(uuid.uuid4())
        format_cmd = [
            java, "-cp", f"{classpath}/*", *self._log_flags(layout), "kafka.tools.StorageTool", "format",
            "-t", cluster_id, "-c", str(properties), "--ignore-formatted",
            *(self.security.format_arguments() if self.security else []),  # the SCRAM user
        ]  # fmt: skip
        result = subprocess.run(format_cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            from infra.errors import InfraError

            tail = (result.stdout + result.stderr).strip().splitlines()[-3:]
            if self.security is not None and self.security.password is not None:
                tail = [line.replace(self.security.password.get_secret_value(), "***") for line in tail]
            raise InfraError(f"formatting Kafka storage failed: {' | '.join(tail)}")

    def _log_flags(self, layout: ServiceLayout) -> list[str]:
        return [
            f"-Dlog4j2.configurationFile={(INFRA_ROOT / 'kafka' / 'log4j2.properties').resolve()}",
            f"-Dkafka.logs.dir={layout.log_dir.resolve()}",
        ]

    def command(self, layout: ServiceLayout, java: str, classpath: Path) -> list[str]:
        return [
            java, f"-Xms{self.heap_mb}m", f"-Xmx{self.heap_mb}m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true", *_marker(layout), *self._log_flags(layout),
            "-cp", f"{classpath}/*", "kafka.Kafka", str(layout.conf_dir / "server.properties"),
        ]  # fmt: skip

    def ready(self) -> bool:
        """The broker answers and the cluster lists it (registered with the controllers, not fenced)."""
        from confluent_kafka.admin import AdminClient

        client = dict(self.security.client) if self.security else {}
        admin = AdminClient({"bootstrap.servers": self.endpoint, "log_level": 0, **client})
        try:
            metadata = admin.list_topics(timeout=2)
        except Exception:
            return False
        return self.node_id in metadata.brokers


def kafka_cluster_id(seed: uuid.UUID) -> str:
    """A KRaft cluster id: 22 characters, URL-safe base64 of 16 bytes."""
    return base64.urlsafe_b64encode(seed.bytes).decode().rstrip("=")


@dataclass(frozen=True)
class Cassandra:
    port: int = 9042
    storage_port: int = 7000
    jmx_port: int = 7199
    commitlog_sync: str = "batch"
    commitlog_sync_ms: int = 10_000
    heap_mb: int = 1024
    name: str = "cassandra"
    start_timeout_s: float = 180.0
    host: str = LOOPBACK
    seed: str = LOOPBACK  # the node the others contact to join the ring
    initial_token: int = 0
    after: tuple[str, ...] = ()
    security: CassandraSecurity | None = None  # None: plain connections, no password

    @property
    def addresses(self) -> list[Address]:
        return [
            Address("SCORECAST_CASSANDRA_PORT", self.host, self.port),
            Address("SCORECAST_CASSANDRA_STORAGE_PORT", self.host, self.storage_port),
            # -Dcassandra.jmx.local.port binds the loopback address whatever the node's own address is.
            Address("SCORECAST_CASSANDRA_JMX_PORT", LOOPBACK, self.jmx_port),
        ]

    @property
    def ports(self) -> dict[str, int]:
        return {a.setting: a.port for a in self.addresses}

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    def main_log(self, layout: ServiceLayout) -> Path:
        return layout.log_dir / "system.log"

    def prepare(self, layout: ServiceLayout, java: str, classpath: Path) -> None:
        self.write_config(layout)
        for sub in ("data", "commitlog", "saved_caches", "hints", "cdc_raw"):
            (layout.data_dir / sub).mkdir(parents=True, exist_ok=True)
        # JNA unpacks its native library into the temp dir, which must allow exec; keep it our own.
        (layout.home / "tmp").mkdir(parents=True, exist_ok=True)

    def write_config(self, layout: ServiceLayout) -> Path:
        config = layout.conf_dir / "cassandra.yaml"
        if self.security is not None and self.security.certificate is not None:
            self.security.certificate.write_keystore(self._keystore(layout))
        _render(INFRA_ROOT / "cassandra" / "cassandra.yaml", config, **self.config_values(layout))
        return config

    def config_values(self, layout: ServiceLayout) -> dict[str, object]:
        """What fills cassandra.yaml's placeholders."""
        return {
            "host": self.host,
            "port": self.port,
            "storage_port": self.storage_port,
            "seeds": f"{self.seed}:{self.storage_port}",
            "initial_token": self.initial_token,
            # The seed starts a ring; every other node of a new cluster joins it with its own token.
            "auto_bootstrap": "true" if self.host == self.seed else "false",
            "memtable_heap_mb": self.heap_mb // 4,
            "data_dir": layout.data_dir.resolve(),
            "commitlog_sync": self._commitlog_sync(),
            "authenticator": self.security.authenticator if self.security else "AllowAllAuthenticator",
            "client_encryption": self.security.yaml(self._keystore(layout)) if self.security else "",
        }

    def _keystore(self, layout: ServiceLayout) -> Path:
        return (layout.conf_dir / "keystore.pem").resolve()

    def _commitlog_sync(self) -> str:
        window = {"periodic": "commitlog_sync_period", "group": "commitlog_sync_group_window"}.get(self.commitlog_sync)
        lines = [f"commitlog_sync: {self.commitlog_sync}"]
        if window is not None:
            lines.append(f"{window}: {self.commitlog_sync_ms}ms")
        return "\n".join(lines)

    def command(self, layout: ServiceLayout, java: str, classpath: Path) -> list[str]:
        jamm = next(classpath.glob("jamm-*.jar"))
        module_flags = [f"--add-exports={m}=ALL-UNNAMED" for m in _CASSANDRA_EXPORTS]
        module_flags += [f"--add-opens={m}=ALL-UNNAMED" for m in _CASSANDRA_OPENS]
        conf = layout.conf_dir.resolve()
        return [
            java, f"-Xms{self.heap_mb}m", f"-Xmx{self.heap_mb}m", "-Xss256k", "-XX:+UseG1GC",
            "-XX:+ExitOnOutOfMemoryError", "-XX:MaxGCPauseMillis=50", "-Djava.net.preferIPv4Stack=true",
            f"-javaagent:{jamm}", "-Djdk.attach.allowAttachSelf=true", "-Dio.netty.tryReflectionSetAccessible=true",
            *module_flags, *_marker(layout),
            f"-Djava.io.tmpdir={(layout.home / 'tmp').resolve()}",
            f"-Dcassandra.config=file://{conf / 'cassandra.yaml'}",
            f"-Dcassandra.storagedir={layout.data_dir.resolve()}",
            f"-Dcassandra.logdir={layout.log_dir.resolve()}",
            f"-Dlogback.configurationFile={(INFRA_ROOT / 'cassandra' / 'logback.xml').resolve()}",
            "-Dcassandra-foreground=yes", "-Dcassandra.skip_wait_for_gossip_to_settle=0",
            # No -Dcassandra.unsafesystem: it skips flushing schema changes, so after a kill -9 the commit log
            # replay found no table for the rows it held and dropped them, the keyspace and the registry.
            f"-Dcassandra.initial_token={self.initial_token}",
            f"-Dcassandra.jmx.local.port={self.jmx_port}",
            # PasswordAuthenticator: the default superuser at once, not 10 s after start (infra up logs in with it)
            *(["-Dcassandra.superuser_setup_delay_ms=0"] if self.security and self.security.password_auth else []),
            "-cp", f"{classpath}/*", "org.apache.cassandra.service.CassandraDaemon",
        ]  # fmt: skip

    def ready(self) -> bool:
        """This node (no other of its cluster) answers CQL."""
        from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable
        from cassandra.policies import WhiteListRoundRobinPolicy

        from scorecast.io.cql.system import SELECT_RELEASE_VERSION

        logging.getLogger("cassandra").setLevel(logging.CRITICAL)
        only_this = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([self.host]))
        cluster = Cluster(
            [self.host],
            port=self.port,
            connect_timeout=2,
            control_connection_timeout=2,
            execution_profiles={EXEC_PROFILE_DEFAULT: only_this},
            **(self.security.driver_options() if self.security else {}),
        )
        try:
            session = cluster.connect()
            session.execute(SELECT_RELEASE_VERSION)
        except (NoHostAvailable, OSError, Exception):
            return False
        finally:
            cluster.shutdown()
        return True
