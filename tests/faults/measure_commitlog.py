"""What each commit log sync mode costs on this machine: `python -m tests.faults.measure_commitlog [MODE...]`.

Restarts the fault cluster's Cassandra once per mode, then measures the pipeline's batched write rate (the
prediction sink's request shape) and the latency of one synchronous single-row insert. docs/reliability.md
keeps the figures behind the chosen default.
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid

from benchmarks.bench_cassandra import prediction_rows, write_rate
from infra.migrations import migrate
from scorecast.cassandra import connect
from scorecast.settings import Settings
from tests.faults.cluster import FaultCluster, fault_settings

MODES: tuple[tuple[str, int], ...] = (("periodic", 10_000), ("group", 15), ("group", 2), ("batch", 0))


def measure(settings: Settings, repeats: int = 3, n: int = 50_000) -> tuple[float, float]:
    """(rows/s of 50-row batches with 32 in flight, median ms of one synchronous single-row insert)."""
    rates = [write_rate(settings, prediction_rows(n, seed=i), 50, 32, 2000) for i in range(repeats)]
    session = connect(settings, settings.keyspace)
    try:
        insert = session.prepare(
            "INSERT INTO predictions (model, version, entity_id, event_time, event_id, score) VALUES (?, ?, ?, ?, ?, ?)"
        )
        latencies = []
        for i in range(300):
            started = time.perf_counter()
            session.execute(insert, ("latency", 1, f"card-{i}", 1_767_225_600_000 + i, f"e-{i}", 0.5))
            latencies.append((time.perf_counter() - started) * 1000)
    finally:
        session.cluster.shutdown()
    return statistics.median(rates), statistics.median(latencies)


def main() -> None:
    """Every mode, or those named: `python -m tests.faults.measure_commitlog periodic batch periodic batch`."""
    named = dict(reversed(MODES))  # a name means its first entry in MODES
    chosen = [(name, named[name]) for name in sys.argv[1:]]
    for mode, window_ms in chosen or MODES:
        settings = fault_settings().model_copy(
            update={
                "cassandra_commitlog_sync": mode,
                "cassandra_commitlog_sync_ms": window_ms or 1,
                "keyspace": f"m_{uuid.uuid4().hex[:8]}",
            }
        )
        cluster = FaultCluster.of(settings)
        cluster.local.stop(cluster.local.service("cassandra"))
        cluster.up()
        session = connect(settings)
        try:
            started = time.perf_counter()
            migrate(session, settings)
            schema_s = time.perf_counter() - started
            rate, latency_ms = measure(settings)
            session.execute(f"DROP KEYSPACE {settings.keyspace}", timeout=60)
        finally:
            session.cluster.shutdown()
        label = f"{mode} {window_ms} ms" if window_ms else mode
        print(
            f"{label:<16} batched writes {rate:>8,.0f} rows/s   "
            f"single insert p50 {latency_ms:5.2f} ms   keyspace + migrations {schema_s:4.1f} s",
            flush=True,
        )
    # Leave the fault cluster as the default settings configure it.
    default = FaultCluster.of(fault_settings())
    default.local.stop(default.local.service("cassandra"))
    default.up()


if __name__ == "__main__":
    main()
