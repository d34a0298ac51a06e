"""Run real Kafka and Cassandra as local JVM processes: start, wait until ready, report, stop, purge."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from infra import jars
from infra.errors import InfraError
from infra.services import Cassandra, Kafka, Service, ServiceLayout
from scorecast.settings import Settings

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
    owners: dict[int, str] = {}
    for service in services:
        for setting, port in service.ports.items():
            if port in owners:
                raise InfraError(f"port {port} is set twice ({owners[port]} and {setting}): nothing was started")
            owners[port] = setting
    for port, setting in owners.items():
        if _port_in_use(port):
            raise InfraError(
                f"port {port} ({setting}) is already in use on this machine: nothing was started; "
                f"stop what holds it or set {setting} to a free port"
            )


def _port_in_use(port: int) -> bool:
    # Bind the way the JVMs will (SO_REUSEADDR, so connections in TIME_WAIT do not count): a listener on
    # 127.0.0.1 or on 0.0.0.0 makes it fail, like it would make the service fail.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _tail(path: Path, lines: int = 15) -> str:
    if not path.exists():
        return f"(no log at {path})"
    # Cut long lines (Cassandra logs its whole classpath) so the message stays readable.
    return "\n".join(line[:300] for line in path.read_text(errors="replace").splitlines()[-lines:])


class LocalCluster:
    """Kafka and Cassandra as processes of this machine, with state under ``settings.infra_dir``."""

    def __init__(self, settings: Settings, jars_dir: Path | None = None) -> None:
        self.home = settings.infra_dir.resolve()
        kafka_port = int(settings.kafka_bootstrap.rsplit(":", 1)[-1])
        self.services: tuple[Service, ...] = (
            Kafka(port=kafka_port, controller_port=settings.kafka_controller_port, heap_mb=settings.kafka_heap_mb),
            Cassandra(
                port=settings.cassandra_port,
                storage_port=settings.cassandra_storage_port,
                jmx_port=settings.cassandra_jmx_port,
                commitlog_sync=settings.cassandra_commitlog_sync,
                commitlog_sync_ms=settings.cassandra_commitlog_sync_ms,
                heap_mb=settings.cassandra_heap_mb,
            ),
        )
        self.jars_dir = (jars_dir or self.home / "jars").resolve()

    def layout(self, service: Service) -> ServiceLayout:
        return ServiceLayout(self.home, service.name)

    def service(self, name: str) -> Service:
        for service in self.services:
            if service.name == name:
                return service
        raise InfraError(f"unknown service {name!r}: expected one of kafka, cassandra")

    def up(self) -> list[ServiceStatus]:
        """Start what is not running yet (idempotent) and wait until every service answers."""
        java = find_java17()
        to_start = [service for service in self.services if self.pid(service) is None]
        check_ports(to_start)  # before anything is spawned: a clash never leaves a half-started cluster
        started: list[tuple[Service, subprocess.Popen[bytes]]] = []
        for service in to_start:
            classpath = jars.resolve(service.name, self.jars_dir)
            layout = self.layout(service)
            service.prepare(layout, java, classpath)
            started.append((service, self._spawn(service, layout, java, classpath)))
        for service, process in started:
            self._wait_ready(service, process)
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
        pids = list(self._our_pids(service))
        for pid in pids:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while pids and time.monotonic() < deadline:
            pids = [p for p in pids if _alive(p)]
            time.sleep(0.2)
        for pid in pids:
            _signal(pid, signal.SIGKILL)
        self.layout(service).pid_file.unlink(missing_ok=True)

    def down(self, purge: bool = False) -> None:
        # Cassandra first: it flushes on shutdown, and nothing of ours depends on it to stop.
        for service in reversed(self.services):
            self.stop(service)
        if purge:
            for sub in ("data", "logs", "conf", "run", "tmp"):
                shutil.rmtree(self.home / sub, ignore_errors=True)

    def log_path(self, name: str) -> Path:
        service = self.service(name)
        layout = self.layout(service)
        log = service.main_log(layout)
        return log if log.exists() else layout.console_log


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
