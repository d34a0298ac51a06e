"""Run real Kafka and Cassandra as local JVM processes: start, wait until ready, report, stop, purge.

One node of each by default; ``nodes=N`` (``scorecast infra up --nodes N``) runs N Kafka brokers (each also a
KRaft controller voter) and N Cassandra nodes, node i on 127.0.0.i.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from infra import jars
from infra.errors import InfraError
from infra.security import cassandra_security, ensure_role, kafka_security
from infra.services import LOOPBACK, Cassandra, Kafka, Service, ServiceLayout, kafka_cluster_id
from scorecast.settings import Settings

MAX_NODES = 9
# Per-node heaps of a multi-node cluster where the settings do not choose them: 3 x (384 + 768) MB leaves a
# small machine room for the workers.
CLUSTER_KAFKA_HEAP_MB = 384
CLUSTER_CASSANDRA_HEAP_MB = 768

_JAVA_CANDIDATES = ("/usr/lib/jvm/java-17-openjdk-amd64/bin/java", "/usr/lib/jvm/java-17-openjdk/bin/java")


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    pid: int | None
    ready: bool
    endpoint: str


def find_java17() -> str:
    """Cassandra 5.0 runs on Java 11 or 17 only, Kafka 4.x on 17+: both get a Java 17."""
    candidates: list[str] = []
    if java_home := os.environ.get("JAVA_HOME"):
        candidates.append(str(Path(java_home) / "bin" / "java"))
    candidates += list(_JAVA_CANDIDATES)
    candidates += [str(p) for p in sorted(Path("/usr/lib/jvm").glob("*17*/bin/java"))]
    if on_path := shutil.which("java"):
        candidates.append(on_path)
    for java in candidates:
        if Path(java).exists() and _java_major(java) == 17:
            return java
    raise InfraError("Java 17 was not found (set JAVA_HOME to a JDK 17): Cassandra 5.0 runs on Java 11/17 only")


def _java_major(java: str) -> int | None:
    result = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)', result.stderr)
    return int(match.group(1)) if match else None


def check_ports(services: list[Service]) -> None:
    """Refuse, in one line, a port that two settings share or that something on this machine already holds."""
    owners: dict[tuple[str, int], str] = {}
    for service in services:
        for setting, host, port in service.addresses:
            if (host, port) in owners:
                raise InfraError(
                    f"port {_where(host, port)} is set twice ({owners[host, port]} and {setting}): nothing was started"
                )
            owners[host, port] = setting
    for (host, port), setting in owners.items():
        if _port_in_use(host, port):
            raise InfraError(
                f"port {_where(host, port)} ({setting}) is already in use on this machine: nothing was started; "
                f"stop what holds it or set {setting} to a free port"
            )


def _where(host: str, port: int) -> str:
    return str(port) if host == LOOPBACK else f"{host}:{port}"


def _port_in_use(host: str, port: int) -> bool:
    # Bind the way the JVMs will (SO_REUSEADDR, so connections in TIME_WAIT do not count): a listener on
    # the address or on 0.0.0.0 makes it fail, like it would make the service fail.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def node_host(node: int) -> str:
    """Node i of a local cluster listens on 127.0.0.i."""
    return f"127.0.0.{node}"


def cluster_services(settings: Settings, nodes: int, home: Path) -> tuple[Service, ...]:
    """The services of a local cluster: Kafka then Cassandra, one node of each or ``nodes`` of each."""
    kafka_port = int(settings.kafka_bootstrap.split(",")[0].rsplit(":", 1)[-1])
    kafka_secured, cassandra_secured = kafka_security(settings), cassandra_security(settings)  # infra/security.py
    if nodes == 1:
        return (
            Kafka(
                port=kafka_port,
                controller_port=settings.kafka_controller_port,
                heap_mb=settings.kafka_heap_mb,
                security=kafka_secured,
            ),
            Cassandra(
                port=settings.cassandra_port,
                storage_port=settings.cassandra_storage_port,
                jmx_port=settings.cassandra_jmx_port,
                commitlog_sync=settings.cassandra_commitlog_sync,
                commitlog_sync_ms=settings.cassandra_commitlog_sync_ms,
                heap_mb=settings.cassandra_heap_mb,
                security=cassandra_secured,
            ),
        )
    if not 1 <= nodes <= MAX_NODES:
        raise InfraError(f"a local cluster has 1 to {MAX_NODES} nodes, not {nodes}")
    chosen = settings.model_fields_set
    kafka_heap = settings.kafka_heap_mb if "kafka_heap_mb" in chosen else CLUSTER_KAFKA_HEAP_MB
    cassandra_heap = settings.cassandra_heap_mb if "cassandra_heap_mb" in chosen else CLUSTER_CASSANDRA_HEAP_MB
    numbers = range(1, nodes + 1)
    voters = ",".join(f"{i}@{node_host(i)}:{settings.kafka_controller_port}" for i in numbers)
    replication = min(3, nodes)
    # The same id for every broker, and for the cluster in this folder whenever a node is formatted again.
    cluster_id = kafka_cluster_id(uuid.uuid5(uuid.NAMESPACE_URL, f"scorecast-kafka:{home}"))
    brokers = [
        Kafka(
            port=kafka_port,
            controller_port=settings.kafka_controller_port,
            heap_mb=kafka_heap,
            name=f"kafka-{i}",
            start_timeout_s=240.0,  # N JVMs start at once on a small machine, and a quorum must form
            host=node_host(i),
            node_id=i,
            voters=voters,
            replication=replication,
            min_insync=replication - 1,  # acks=all then survives one broker down
            cluster_id=cluster_id,
            security=kafka_secured,
        )
        for i in numbers
    ]
    ring = [
        Cassandra(
            port=settings.cassandra_port,
            storage_port=settings.cassandra_storage_port,
            # JMX binds the loopback address on every node, so each node needs its own port.
            jmx_port=settings.cassandra_jmx_port + i - 1,
            commitlog_sync=settings.cassandra_commitlog_sync,
            commitlog_sync_ms=settings.cassandra_commitlog_sync_ms,
            heap_mb=cassandra_heap,
            name=f"cassandra-{i}",
            start_timeout_s=300.0,
            host=node_host(i),
            seed=node_host(1),
            initial_token=_token(i, nodes),
            # Nodes join one at a time: concurrent joins of a new ring race for its token metadata.
            after=(f"cassandra-{i - 1}",) if i > 1 else (),
            security=cassandra_secured,
        )
        for i in numbers
    ]
    return (*brokers, *ring)


def _token(node: int, nodes: int) -> int:
    """Evenly spaced Murmur3 tokens, one per node."""
    return -(2**63) + (node - 1) * (2**64 // nodes)


def _tail(path: Path, lines: int = 15) -> str:
    if not path.exists():
        return f"(no log at {path})"
    # Cut long lines (Cassandra logs its whole classpath) so the message stays readable.
    return "\n".join(line[:300] for line in path.read_text(errors="replace").splitlines()[-lines:])


class LocalCluster:
    """Kafka and Cassandra as processes of this machine, with state under ``settings.infra_dir``."""

    def __init__(self, settings: Settings, jars_dir: Path | None = None, nodes: int | None = None) -> None:
        """``nodes`` None: as many as `up` last started in this folder (one if none)."""
        self.home = settings.infra_dir.resolve()
        self.nodes = nodes or self.recorded_nodes() or 1
        self.services = cluster_services(settings, self.nodes, self.home)
        self.jars_dir = (jars_dir or self.home / "jars").resolve()

    @property
    def _nodes_file(self) -> Path:
        return self.home / "conf" / "nodes"

    def recorded_nodes(self) -> int | None:
        """How many nodes `up` last started in this folder."""
        with contextlib.suppress(OSError, ValueError):
            return int(self._nodes_file.read_text())
        return None

    def client_settings(self) -> dict[str, str]:
        """The SCORECAST_* settings a client of this cluster needs (every node as a contact point, and the
        replication the cluster was made for)."""
        kafka = [s for s in self.services if isinstance(s, Kafka)]
        cassandra = [s for s in self.services if isinstance(s, Cassandra)]
        return {
            "SCORECAST_KAFKA_BOOTSTRAP": ",".join(s.endpoint for s in kafka),
            "SCORECAST_CASSANDRA_HOSTS": ",".join(s.host for s in cassandra),
            "SCORECAST_TOPIC_REPLICATION": str(kafka[0].replication),
            "SCORECAST_KEYSPACE_REPLICATION": str(min(3, len(cassandra))),
        }

    def layout(self, service: Service) -> ServiceLayout:
        return ServiceLayout(self.home, service.name)

    def service(self, name: str) -> Service:
        """A service by name; on a cluster, ``kafka`` and ``cassandra`` name node 1."""
        for service in self.services:
            if service.name in (name, f"{name}-1"):
                return service
        raise InfraError(f"unknown service {name!r}: expected one of {', '.join(s.name for s in self.services)}")

    def up(self) -> list[ServiceStatus]:
        """Start what is not running yet (idempotent) and wait until every service answers."""
        recorded = self.recorded_nodes() or 1
        if recorded != self.nodes and (self.home / "data").exists():
            raise InfraError(
                f"{self.home} holds a {recorded}-node cluster, not {self.nodes}: nothing was started; "
                "`scorecast infra down --purge` it first or set SCORECAST_INFRA_DIR to another folder"
            )
        java = find_java17()
        to_start = [service for service in self.services if self.pid(service) is None]
        check_ports(to_start)  # before anything is spawned: a clash never leaves a half-started cluster
        if self.nodes > 1:
            self._nodes_file.parent.mkdir(parents=True, exist_ok=True)
            self._nodes_file.write_text(str(self.nodes))
        else:
            self._nodes_file.unlink(missing_ok=True)  # the data of a cluster was deleted by hand: one node now
        started: dict[str, tuple[Service, subprocess.Popen[bytes]]] = {}
        for service in to_start:
            for name in service.after:
                if name in started:
                    self._wait_ready(*started.pop(name))
            classpath = jars.resolve(_artifact(service), self.jars_dir)
            layout = self.layout(service)
            service.prepare(layout, java, classpath)
            started[service.name] = (service, self._spawn(service, layout, java, classpath))
        for service, process in started.values():
            self._wait_ready(service, process)
        for service in self.services:
            if isinstance(service, Cassandra) and service.security is not None:
                ensure_role(service.security)  # the settings' login role, once the ring answers
                break
        return self.status()

    def _spawn(self, service: Service, layout: ServiceLayout, java: str, classpath: Path) -> subprocess.Popen[bytes]:
        layout.log_dir.mkdir(parents=True, exist_ok=True)
        layout.pid_file.parent.mkdir(parents=True, exist_ok=True)
        with layout.console_log.open("ab") as console:
            process = subprocess.Popen(
                service.command(layout, java, classpath),
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # the services outlive this command; Ctrl-C here must not stop them
                cwd=layout.data_dir,
            )
        layout.pid_file.write_text(str(process.pid))
        return process

    def _wait_ready(self, service: Service, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + service.start_timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self._fail(service, f"exited with code {process.returncode} while starting")
            if service.ready():
                return
            time.sleep(1.0)
        self.stop(service)
        self._fail(service, f"did not answer within {service.start_timeout_s:.0f}s")

    def _fail(self, service: Service, why: str) -> None:
        layout = self.layout(service)
        log = service.main_log(layout)
        shown = log if log.exists() else layout.console_log
        raise InfraError(f"{service.name} {why}; last lines of {shown}:\n{_tail(shown)}")

    def pid(self, service: Service) -> int | None:
        """The pid of our running JVM for ``service``, checked against its command line."""
        pid_file = self.layout(service).pid_file
        if not pid_file.exists():
            return None
        pid = int(pid_file.read_text().strip() or 0)
        return pid if pid in set(self._our_pids(service)) else None

    def _our_pids(self, service: Service) -> Iterator[int]:
        markers = [m.encode() for m in self._markers(service)]
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if all(m in cmdline for m in markers):
                yield int(proc.name)

    def _markers(self, service: Service) -> list[str]:
        return [f"-Dscorecast.service={service.name}", f"-Dscorecast.home={self.home}"]

    def status(self) -> list[ServiceStatus]:
        return [
            ServiceStatus(s.name, pid, pid is not None and s.ready(), s.endpoint)
            for s in self.services
            for pid in [self.pid(s)]
        ]

    def stop(self, service: Service, timeout_s: float = 45.0) -> None:
        """SIGTERM every JVM of ours for ``service`` (also orphans without a pid file), SIGKILL stragglers."""
        self._stop_together([service], timeout_s)

    def _stop_together(self, services: list[Service], timeout_s: float = 45.0) -> None:
        # Together: the last of N brokers stopped alone would wait out its controlled shutdown without a quorum.
        pids = [pid for service in services for pid in self._our_pids(service)]
        for pid in pids:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while pids and time.monotonic() < deadline:
            pids = [p for p in pids if _alive(p)]
            time.sleep(0.2)
        for pid in pids:
            _signal(pid, signal.SIGKILL)
        for service in services:
            self.layout(service).pid_file.unlink(missing_ok=True)

    def down(self, purge: bool = False) -> None:
        # Cassandra first: it flushes on shutdown, and nothing of ours depends on it to stop.
        for artifact in ("cassandra", "kafka"):
            self._stop_together([s for s in self.services if _artifact(s) == artifact])
        if purge:
            for sub in ("data", "logs", "conf", "run", "tmp"):  # conf holds the recorded node count
                shutil.rmtree(self.home / sub, ignore_errors=True)

    def log_path(self, name: str) -> Path:
        service = self.service(name)
        layout = self.layout(service)
        log = service.main_log(layout)
        return log if log.exists() else layout.console_log


def _artifact(service: Service) -> str:
    """Which server a service runs (its jars): kafka-2 runs kafka."""
    return service.name.split("-")[0]


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie child of this process still answers kill(0); reap it if it is ours.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return Path(f"/proc/{pid}").exists() and "Z" not in _proc_state(pid)
    return done == 0


def _proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return "Z"
