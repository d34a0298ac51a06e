"""A second local Kafka + Cassandra of the fault suite, which its tests may kill -9, SIGTERM and restart.

It lives under its own infra folder and ports, so the services every other test shares are never touched.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from infra.local import LocalCluster, ServiceStatus
from scorecast.settings import Settings

ROOT = Path(__file__).resolve().parents[2]

# Ports of the fault cluster; every one differs from the defaults the shared services use.
FAULT_PORTS: dict[str, object] = {
    "kafka_bootstrap": "127.0.0.1:19092",
    "kafka_controller_port": 19093,
    "cassandra_port": 19042,
    "cassandra_storage_port": 17000,
    "cassandra_jmx_port": 17199,
}


def fault_settings() -> Settings:
    return Settings(
        infra_backend="local",
        infra_dir=ROOT / ".scorecast" / "faults",
        cassandra_hosts=["127.0.0.1"],
        **FAULT_PORTS,  # type: ignore[arg-type]
    )


@dataclass
class FaultCluster:
    """The fault suite's own services, with the faults a test injects into them."""

    settings: Settings
    local: LocalCluster

    @classmethod
    def of(cls, settings: Settings) -> FaultCluster:
        # Share the checkout's jar cache: the jars are the same, Maven need not resolve them twice.
        return cls(settings, LocalCluster(settings, jars_dir=ROOT / ".scorecast" / "jars"))

    def up(self) -> list[ServiceStatus]:
        return self.local.up()

    def kill(self, name: str, sig: signal.Signals = signal.SIGKILL, timeout_s: float = 60.0) -> None:
        """Send ``sig`` to the service's JVM (kill -9 by default) and wait until the process is gone."""
        pid = self.local.pid(self.local.service(name))
        assert pid is not None, f"{name} of the fault cluster is not running"
        os.kill(pid, sig)
        deadline = time.monotonic() + timeout_s
        while not _gone(pid):
            assert time.monotonic() < deadline, f"{name} (pid {pid}) did not exit within {timeout_s:.0f}s of {sig.name}"
            time.sleep(0.05)

    def restart(self) -> float:
        """Start what is down and wait until it answers; returns the monotonic time it became ready."""
        self.up()
        return time.monotonic()


def _gone(pid: int) -> bool:
    """The process and all its threads have exited, so its ports are free. A JVM's main thread turns zombie
    while its other threads still tear down (and hold the sockets), so a zombie counts only when alone."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if this process started it
    proc = Path(f"/proc/{pid}")
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        threads = len(list((proc / "task").iterdir()))
    except OSError:
        return True
    return state == "Z" and threads <= 1
