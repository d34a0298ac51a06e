"""CPU time of processes and of the whole box, from /proc: who spent the box's cores during a measurement.

On a 2-core box the pipeline's worker, Kafka and Cassandra share the cores; a rate below a ceiling measured with
Cassandra alone is explained only once each process's share is known.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from infra.local import LocalCluster
from scorecast.settings import Settings

TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of a process and its live children (a server's workers); nan for None."""
    if pid is None:
        return float("nan")
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except FileNotFoundError:
            if current == pid:
                return float("nan")  # ended: its time is no longer there to read
    return total


def local_service_pid(settings: Settings, name: str) -> int | None:
    """The pid of the local ``kafka`` or ``cassandra`` that `scorecast infra up` started (None for another)."""
    cluster = LocalCluster(settings)
    return cluster.pid(cluster.service(name))


def box_cpu_s() -> tuple[float, float]:
    """(busy, idle) CPU seconds of the whole box since boot, all cores together (iowait counts as idle)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / TICKS, idle / TICKS


@dataclass(frozen=True)
class CpuShares:
    """CPU seconds each party spent over one span, and the box's idle seconds (all cores)."""

    parties: dict[str, float]
    idle_s: float
    busy_s: float

    def per_unit_us(self, units: int) -> dict[str, float]:
        """Each party's CPU µs per unit of work (event, row, request), the box's idle included."""
        known = sum(seconds for seconds in self.parties.values() if not math.isnan(seconds))
        seconds = {**self.parties, "rest of the box": self.busy_s - known, "idle": self.idle_s}
        return {name: value / max(units, 1) * 1e6 for name, value in seconds.items()}


class CpuSpan:
    """``start()`` then ``stop()`` around a measurement: each named party's CPU (the sum of its processes) and the
    box's busy and idle time. Processes are read again at ``stop()``; a party with one that ended counts nan."""

    def __init__(self, pids: Mapping[str, Sequence[int | None]]) -> None:
        self._pids = pids
        self._start: dict[str, float] = {}
        self._box = (0.0, 0.0)

    def start(self) -> CpuSpan:
        self._start = {name: _cpu_s(pids) for name, pids in self._pids.items()}
        self._box = box_cpu_s()
        return self

    def stop(self) -> CpuShares:
        busy, idle = box_cpu_s()
        parties = {name: _cpu_s(pids) - self._start[name] for name, pids in self._pids.items()}
        return CpuShares(parties, idle - self._box[1], busy - self._box[0])


def _cpu_s(pids: Sequence[int | None]) -> float:
    return sum(process_cpu_s(pid) for pid in pids)
