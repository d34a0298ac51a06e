"""Cassandra's start-up with and without -Dcassandra.unsafesystem on this machine:
`python -m tests.faults.measure_startup unsafe durable unsafe durable`.

Each argument wipes the fault cluster's Cassandra, times a cold start and then a restart. `unsafe` adds the
flag the local services ran with before (schema changes not flushed); `durable` is the configuration shipped.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import time
from pathlib import Path

from infra.services import Cassandra, ServiceLayout
from tests.faults.cluster import FaultCluster, fault_settings


class UnsafeCassandra(Cassandra):
    def command(self, layout: ServiceLayout, java: str, classpath: Path) -> list[str]:
        command = super().command(layout, java, classpath)
        main = command.index("-cp")  # JVM flags go before the classpath and the main class
        return [*command[:main], "-Dcassandra.unsafesystem=true", *command[main:]]


def start_times(unsafe: bool) -> tuple[float, float]:
    cluster = FaultCluster.of(fault_settings())
    shipped = cluster.local.service("cassandra")
    assert isinstance(shipped, Cassandra)
    service = UnsafeCassandra(**dataclasses.asdict(shipped)) if unsafe else shipped
    cluster.local.services = tuple(service if s is shipped else s for s in cluster.local.services)
    cluster.local.stop(service)
    for sub in ("data", "logs", "conf"):
        shutil.rmtree(cluster.local.home / sub / "cassandra", ignore_errors=True)
    started = time.monotonic()
    cluster.up()
    cold = time.monotonic() - started
    cluster.local.stop(service)
    started = time.monotonic()
    cluster.up()
    return cold, time.monotonic() - started


def main() -> None:
    for name in sys.argv[1:] or ["unsafe", "durable"]:
        cold, restart = start_times(unsafe=name == "unsafe")
        print(f"{name:<7} cold start {cold:5.1f} s   restart {restart:5.1f} s", flush=True)
    start_times(unsafe=False)  # leave the fault cluster as shipped


if __name__ == "__main__":
    main()
