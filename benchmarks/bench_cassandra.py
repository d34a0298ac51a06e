"""The scorer's write path, client against client, and Cassandra's write ceiling, in one interleaved run.

The same prediction rows go to the same table (a keyspace of its own) through each variant in turn, repeat after
repeat, so every variant sees the same box and the same Cassandra state:

- the scorer's sinks as a worker runs them (scorers.prediction_sink): micro-batches of 2,000 rows, each written
  and acknowledged before the next, UNLOGGED batches of 50 rows grouped by replica, 32 in flight; on
  cassandra-driver (the baseline) and on acsylla;
- acsylla alone, in asyncio with nothing else: all rows streamed with a bounded number of requests in flight, as
  UNLOGGED batches or as single-row inserts. The fastest variant's rate is *Cassandra's write ceiling* on this
  box: what the fastest client available gets Cassandra to accept.

Each variant reports rows/s, the client's CPU per row (``time.process_time`` over the writes: every thread of
the process, the C++ driver's included) and Cassandra's CPU per row (its JVM's /proc time over the same span).
The sink's hand-off between the synchronous worker and asyncio is measured on its own too: an empty coroutine
run on the sink's loop in the caller's thread, against ``run_coroutine_threadsafe`` to a loop thread.

    python -m benchmarks.bench_cassandra [--n 20000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import acsylla
import numpy as np

from benchmarks.common import Measurement, figure
from benchmarks.cpu import local_service_pid, process_cpu_s
from infra.migrations import migrate
from scorecast.cassandra import connect
from scorecast.io.acsylla_cluster import acsylla_cluster
from scorecast.io.cassandra import cassandra_session
from scorecast.io.cql import insert_prediction
from scorecast.settings import Settings
from scorers.acsylla_sink import AcsyllaPredictionWriter
from scorers.prediction_sink import PredictionRows, PredictionSink, PredictionWriter

BASELINE = "cassandra-driver sink (as the worker: 2000-row micro-batches, 50 rows/request, 32 in flight)"
CHUNK = 2000  # the worker's batch_max


def prediction_rows(n: int, seed: int = 0) -> PredictionRows:
    rng = np.random.default_rng(seed)
    return PredictionRows(
        model="bench",
        version=1,
        variant="champion",
        entity_ids=[f"card-{i}" for i in rng.integers(0, 50_000, n)],
        event_ids=[str(uuid.UUID(int=int(x))) for x in rng.integers(0, 2**62, n)],
        event_times_ms=1_767_225_600_000 + np.arange(n, dtype=np.int64) * 5,
        scores=rng.random(n).astype(np.float32),
        scored_at_ms=int(time.time() * 1000),
    )


def _slice(rows: PredictionRows, start: int, end: int) -> PredictionRows:
    return dataclasses.replace(
        rows,
        entity_ids=rows.entity_ids[start:end],
        event_ids=rows.event_ids[start:end],
        event_times_ms=rows.event_times_ms[start:end],
        scores=rows.scores[start:end],
    )


# A variant writes every row and returns the seconds the writes took (connecting and preparing not included).
Write = Callable[[Settings, PredictionRows], float]


def sink_variant(client: str, rows_per_request: int = 50, in_flight: int = 32) -> Write:
    def write(settings: Settings, rows: PredictionRows) -> float:
        session = connect(settings, settings.keyspace)
        sink: PredictionSink
        if client == "acsylla":
            sink = AcsyllaPredictionWriter.open(settings, metadata=session.cluster.metadata)
        else:
            sink = PredictionWriter(session, settings.keyspace, rows_per_request, in_flight)
        try:
            started = time.perf_counter()
            for start in range(0, len(rows), CHUNK):
                sink.write(_slice(rows, start, start + CHUNK))
            return time.perf_counter() - started
        finally:
            sink.close()
            session.cluster.shutdown()

    return write


def write_rate(settings: Settings, rows: PredictionRows, rows_per_request: int, in_flight: int, chunk: int) -> float:
    """rows/s of the cassandra-driver sink at one request shape, ``chunk`` rows a write (tests/faults uses it)."""
    session = connect(settings, settings.keyspace)
    try:
        writer = PredictionWriter(session, settings.keyspace, rows_per_request, in_flight)
        started = time.perf_counter()
        for start in range(0, len(rows), chunk):
            writer.write(_slice(rows, start, start + chunk))
        return len(rows) / (time.perf_counter() - started)
    finally:
        session.cluster.shutdown()


def acsylla_variant(rows_per_request: int, in_flight: int) -> Write:
    """acsylla in asyncio alone: every row streamed, ``in_flight`` requests at a time (1 row: plain inserts)."""

    async def stream(settings: Settings, rows: PredictionRows) -> float:
        cluster = acsylla_cluster(settings, application_name="scorecast-bench", request_timeout_s=10.0)
        session = await cluster.create_session()
        try:
            insert = await session.create_prepared(insert_prediction(settings.keyspace))
            window = asyncio.Semaphore(in_flight)

            async def send(values: list[tuple[object, ...]]) -> None:
                async with window:
                    if len(values) == 1:
                        await session.execute(insert.bind(values[0]))
                        return
                    batch = acsylla.create_batch_unlogged()
                    for row in values:
                        batch.add_statement(insert.bind(row))
                    await session.execute_batch(batch)

            started = time.perf_counter()
            values = list(rows.values(timestamps_in_seconds=True))
            requests = (values[i : i + rows_per_request] for i in range(0, len(values), rows_per_request))
            await asyncio.gather(*(send(request) for request in requests))
            return time.perf_counter() - started
        finally:
            await session.close()

    return lambda settings, rows: asyncio.run(stream(settings, rows))


def variants() -> dict[str, Write]:
    return {
        BASELINE: sink_variant("cassandra-driver"),
        "acsylla sink (as the worker: 2000-row micro-batches, 50 rows/request, 32 in flight)": sink_variant("acsylla"),
        "acsylla alone, UNLOGGED batches of 50, 32 in flight": acsylla_variant(50, 32),
        "acsylla alone, UNLOGGED batches of 200, 8 in flight": acsylla_variant(200, 8),
        "acsylla alone, single-row inserts, 256 in flight": acsylla_variant(1, 256),
        "acsylla alone, single-row inserts, 1024 in flight": acsylla_variant(1, 1024),
    }


@dataclass(frozen=True)
class Sample:
    rate: float  # rows/s
    client_us: float  # client CPU per row
    server_us: float  # Cassandra's CPU per row (nan when its process is not ours to read)


def sample(settings: Settings, write: Write, rows: PredictionRows, cassandra_pid: int | None) -> Sample:
    cpu, server = time.process_time(), process_cpu_s(cassandra_pid)
    seconds = write(settings, rows)
    cpu, server = time.process_time() - cpu, process_cpu_s(cassandra_pid) - server
    n = len(rows)
    return Sample(n / seconds, cpu / n * 1e6, server / n * 1e6)


@contextmanager
def bench_keyspace(settings: Settings) -> Iterator[Settings]:
    scoped = settings.model_copy(update={"keyspace": f"bench_writes_{uuid.uuid4().hex[:8]}"})
    with cassandra_session(scoped, keyspace=False) as session:
        migrate(session, scoped)
    try:
        yield scoped
    finally:
        with cassandra_session(scoped, keyspace=False) as session:
            session.execute(f"DROP KEYSPACE IF EXISTS {scoped.keyspace}", timeout=120)


def bridge_cost_us(calls: int = 5000) -> tuple[float, float]:
    """µs per hand-off of an empty coroutine: (the sink's loop run in the caller's thread, a loop thread reached
    with run_coroutine_threadsafe)."""

    async def nothing() -> None:
        return None

    loop = asyncio.new_event_loop()
    started = time.perf_counter()
    for _ in range(calls):
        loop.run_until_complete(nothing())
    in_caller = (time.perf_counter() - started) / calls * 1e6
    loop.close()
    other = asyncio.new_event_loop()
    thread = threading.Thread(target=other.run_forever, daemon=True)
    thread.start()
    started = time.perf_counter()
    for _ in range(calls):
        asyncio.run_coroutine_threadsafe(nothing(), other).result()
    threadsafe = (time.perf_counter() - started) / calls * 1e6
    other.call_soon_threadsafe(other.stop)
    thread.join()
    other.close()
    return in_caller, threadsafe


def run(settings: Settings, n: int = 100_000, repeats: int = 3) -> tuple[Measurement, list[Measurement]]:
    """(Cassandra's write ceiling: the fastest variant's median rate; every variant's rate and CPU per row).
    Variants run interleaved: repeat 1 of each, then repeat 2 of each, ..."""
    rows = prediction_rows(n)
    chosen = variants()
    samples: dict[str, list[Sample]] = {name: [] for name in chosen}
    with bench_keyspace(settings) as scoped:
        pid = local_service_pid(scoped, "cassandra")
        sample(scoped, chosen[BASELINE], _slice(rows, 0, min(n, 5 * CHUNK)), pid)  # warm-up: JIT, memtables
        for _ in range(repeats):
            for name, write in chosen.items():
                samples[name].append(sample(scoped, write, rows, pid))
    measurements: list[Measurement] = []
    for name, runs in samples.items():
        measurements += [
            Measurement.of(name, "rows/s", [s.rate for s in runs]),
            Measurement.of(f"{name}: client CPU per row", "µs", [s.client_us for s in runs]),
            Measurement.of(f"{name}: Cassandra CPU per row", "µs", [s.server_us for s in runs]),
        ]
    in_caller, threadsafe = zip(*(bridge_cost_us() for _ in range(repeats)), strict=True)
    measurements += [
        Measurement.of("sink hand-off: loop run in the caller's thread", "µs", list(in_caller)),
        Measurement.of("sink hand-off: run_coroutine_threadsafe to a loop thread", "µs", list(threadsafe)),
    ]
    rates = [m for m in measurements if m.unit == "rows/s"]
    fastest = max(rates, key=lambda m: m.median)
    ceiling = dataclasses.replace(fastest, name=f"Cassandra write ceiling: {fastest.name}")
    return ceiling, measurements


def report(ceiling: Measurement, measurements: list[Measurement]) -> list[str]:
    """One line per variant: rate, ratio to the baseline of this run, client and server CPU per row."""
    by_name = {m.name: m for m in measurements}
    baseline = by_name[BASELINE].median
    lines = []
    for name in variants():
        rate = by_name[name]
        client = by_name[f"{name}: client CPU per row"]
        server = by_name[f"{name}: Cassandra CPU per row"]
        lines.append(
            f"{name}: {figure(rate.median)} rows/s ({figure(rate.low)}-{figure(rate.high)}), "
            f"{rate.median / baseline:.2f}x the baseline; client CPU {figure(client.median)} µs/row, "
            f"Cassandra CPU {figure(server.median)} µs/row"
        )
    lines.append(f"ceiling: {figure(ceiling.median)} rows/s = {ceiling.median / baseline:.2f}x the baseline")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="rows per run")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    ceiling, measurements = run(Settings(), n=args.n, repeats=args.repeats)
    for line in report(ceiling, measurements):
        print(line)
    in_caller = next(m for m in measurements if m.name.startswith("sink hand-off: loop run"))
    threadsafe = next(m for m in measurements if m.name.startswith("sink hand-off: run_coroutine"))
    print(
        f"sink hand-off: {figure(in_caller.median)} µs in the caller's thread, "
        f"{figure(threadsafe.median)} µs via a loop thread"
    )
    print(f"load average (1 min): {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
