"""Lookup API under open-loop HTTP load on loopback, against raw client reads of the same keys in the same run.

The API runs as `scorecast api` (one worker, auth on) in its own process, on each HTTP server it can use
(``SCORECAST_API_HTTP_SERVER``: granian, and uvicorn as the baseline), one after the other in the same run.
The load comes from vegeta, an open-loop generator in another process: at a fixed rate it sends on schedule
whether or not earlier answers came back, so a slow server shows up as latency instead of as a lower request
rate (closed-loop tools such as wrk hide that: coordinated omission). Phases: 1,000 and 2,000 req/s, then the
most it sustains (rate 0 with a fixed number of workers, best of a few), then 1/4 and 1/2 of that maximum.
Each Cassandra client measured (``SCORECAST_API_CASSANDRA_CLIENT``: acsylla; cassandra-driver on request)
first reads the same rows raw, with the API's own prepared statement and connection, in a process of their
own, at the best of a few concurrency levels (cassandra-driver also with its own callback chaining); the API
on that client is then measured on each server.

    python -m benchmarks.bench_lookup [--seconds 10] [--entities 20000] [--workers 1 2] [--repeats 3]
                                      [--clients acsylla cassandra-driver] [--servers granian uvicorn]

vegeta is a Go module; when it is not on PATH or in ~/go/bin it is built once with `go install`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import httpx
from cassandra.concurrent import execute_concurrent_with_args

from benchmarks.common import Measurement, ratio
from benchmarks.cpu import local_service_pid, process_cpu_s
from infra.migrations import migrate
from lookup_api.acsylla_connection import AcsyllaConnection
from lookup_api.config import ApiSettings
from lookup_api.connection import LATEST, Connection, statements
from lookup_api.driver_connection import PROFILE, DriverConnection, open_session
from lookup_api.keys import KeyAdmin
from scorecast.cassandra import connect
from scorecast.settings import Settings

VEGETA_MODULE = "github.com/tsenart/vegeta/v12@v12.13.0"
MODEL = "bench"
RAW_CONCURRENCY = (32, 128, 256)
CLIENTS = ("acsylla", "cassandra-driver")
SERVERS = ("granian", "uvicorn")  # the API's server, then the one it replaced (the baseline)
# raw read modes of each client: through the API's connection, and the driver's own callback chaining
RAW_MODES = {"acsylla": ("acsylla",), "cassandra-driver": ("driver", "asyncio")}
MAX_WORKERS = (16, 64, 128)


@dataclass(frozen=True)
class LoadResult:
    phase: str
    target_rps: float | None
    sent_rps: float
    ok_rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    success: float
    status_codes: dict[str, int]
    server_cpu_us: float  # CPU time of the API process(es) per request answered
    cassandra_cpu_us: float  # CPU time of the local Cassandra per request (nan when its pid is not known)
    vegeta_cpu_us: float  # CPU time of the load generator per request

    def line(self) -> str:
        target = f"{self.target_rps:>6,.0f}" if self.target_rps else "   max"
        return (
            f"{self.phase:<30} target {target} req/s  sent {self.sent_rps:>7,.0f}  ok {self.ok_rps:>7,.0f} req/s  "
            f"p50 {self.p50_ms:6.2f} ms  p99 {self.p99_ms:6.2f} ms  max {self.max_ms:7.2f} ms  "
            f"server CPU {self.server_cpu_us:4.0f} µs/req (Cassandra {self.cassandra_cpu_us:3.0f}, vegeta "
            f"{self.vegeta_cpu_us:3.0f})  success {self.success:.4f} {self.status_codes}"
        )


def vegeta_binary() -> str:
    found = shutil.which("vegeta") or next(
        (str(p) for p in [Path.home() / "go" / "bin" / "vegeta"] if p.exists()), None
    )
    if found:
        return found
    go = shutil.which("go")
    if go is None:
        sys.exit(f"error: vegeta not found and no Go toolchain to build it (go install {VEGETA_MODULE})")
    print(f"building vegeta: go install {VEGETA_MODULE} ...", flush=True)
    subprocess.run([go, "install", VEGETA_MODULE], check=True, timeout=600)
    gopath = subprocess.run([go, "env", "GOPATH"], check=True, capture_output=True, text=True).stdout.strip()
    return str(Path(gopath) / "bin" / "vegeta")


def seed(settings: Settings, entities: int) -> tuple[list[str], str]:
    """Keyspace with ``entities`` predictions of version 1 (and 2, for the flip), the champion alias, one key."""
    session = connect(settings)
    migrate(session, settings)
    session.set_keyspace(settings.keyspace)
    try:
        now = datetime.now(UTC)
        session.execute("INSERT INTO model_versions (model, version, created_at) VALUES (%s, 1, %s)", (MODEL, now))
        session.execute("INSERT INTO model_versions (model, version, created_at) VALUES (%s, 2, %s)", (MODEL, now))
        session.execute(
            "INSERT INTO model_aliases (model, alias, version, updated_at) VALUES (%s, 'champion', 1, %s)", (MODEL, now)
        )
        insert = session.prepare(
            "INSERT INTO predictions (model, version, entity_id, event_time, event_id, score, outputs, scored_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        )
        ids = [f"card-{i:06d}" for i in range(entities)]
        rows = [
            (MODEL, version, e, now, uuid.uuid4().hex, (i % 1000) / 1000, {"p_fraud": (i % 1000) / 1000}, now)
            for version in (1, 2)
            for i, e in enumerate(ids if version == 1 else ids[:10])
        ]
        execute_concurrent_with_args(session, insert, rows, concurrency=128, raise_on_first_error=True)
        _, token = KeyAdmin(session).create("bench", rate_limit_rps=0)
        return ids, token
    finally:
        session.cluster.shutdown()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def start_api(settings: Settings, port: int, workers: int, client: str, server: str) -> subprocess.Popen[bytes]:
    scorecast = str(Path(sys.executable).with_name("scorecast"))
    env = {
        **os.environ,
        "SCORECAST_KEYSPACE": settings.keyspace,
        "SCORECAST_API_AUTH_ENABLED": "true",
        "SCORECAST_API_CASSANDRA_CLIENT": client,
        "SCORECAST_API_HTTP_SERVER": server,
    }
    process = subprocess.Popen(
        [scorecast, "api", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the API server exited during start-up")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.terminate()
    raise RuntimeError("the API server was not ready within 120 s")


def write_targets(path: Path, base: str, ids: list[str], token: str) -> None:
    header = {"Authorization": [f"Bearer {token}"]}
    with path.open("w") as out:
        for entity_id in ids:  # vegeta cycles through them in order
            out.write(
                json.dumps({"method": "GET", "url": f"{base}/v1/predictions/{MODEL}/{entity_id}", "header": header})
            )
            out.write("\n")


def cassandra_pid() -> int | None:
    """The local Cassandra's pid (None for another cluster)."""
    return local_service_pid(Settings(), "cassandra")


def attack(
    vegeta: str, targets: Path, phase: str, rate: int, seconds: float, server_pid: int, workers: int | None = None
) -> LoadResult:
    cassandra = cassandra_pid()
    cassandra_cpu = process_cpu_s(cassandra)
    vegeta_cpu = _children_cpu_s()
    cpu = process_cpu_s(server_pid)
    command = [vegeta, "attack", "-format=json", f"-targets={targets}", f"-duration={seconds}s", "-timeout=5s"]
    command += [f"-rate={rate}/1s"] if rate else ["-rate=0", f"-max-workers={workers}", f"-workers={workers}"]
    attack_run = subprocess.run(command, check=True, capture_output=True, timeout=seconds + 60)
    server_cpu_s = process_cpu_s(server_pid) - cpu
    cassandra_cpu_s = process_cpu_s(cassandra) - cassandra_cpu
    vegeta_cpu_s = _children_cpu_s() - vegeta_cpu
    report = subprocess.run(
        [vegeta, "report", "-type=json"], input=attack_run.stdout, check=True, capture_output=True, timeout=120
    )
    data: dict[str, Any] = json.loads(report.stdout)
    latencies = data["latencies"]
    requests = max(1, data["requests"])
    return LoadResult(
        phase=phase,
        target_rps=rate or None,
        sent_rps=data["rate"],
        ok_rps=data["throughput"],
        p50_ms=latencies["50th"] / 1e6,
        p99_ms=latencies["99th"] / 1e6,
        max_ms=latencies["max"] / 1e6,
        success=data["success"],
        status_codes=data["status_codes"],
        server_cpu_us=server_cpu_s / requests * 1e6,
        cassandra_cpu_us=cassandra_cpu_s / requests * 1e6,
        vegeta_cpu_us=vegeta_cpu_s / requests * 1e6,
    )


def _children_cpu_s() -> float:
    """CPU seconds of this process's children that have ended (vegeta's runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def raw_read_rate(
    settings: Settings, ids: list[str], concurrency: int, seconds: float, mode: str
) -> tuple[float, float]:
    """Reads/s of the API's prepared statement through one client alone, and CPU µs per read of this process
    (run in its own process)."""
    try:
        cpu = time.process_time()
        rate, reads = _raw_read_rate(settings, ids, concurrency, seconds, mode)
        return rate, (time.process_time() - cpu) / reads * 1e6
    except Exception as error:  # driver errors hold locks and cannot be pickled back to the parent
        raise RuntimeError(f"{type(error).__name__}: {error}") from None


def _raw_read_rate(
    settings: Settings, ids: list[str], concurrency: int, seconds: float, mode: str
) -> tuple[float, int]:
    import uvloop

    # a long timeout: on a shared box a stalled read should count as slow, not end the benchmark
    api = ApiSettings(request_timeout_s=30)
    if mode == "acsylla":
        return uvloop.run(_acsylla_reads(settings, api, ids, concurrency, seconds))
    session = open_session(settings, api)
    try:
        statement = session.prepare(statements(settings.keyspace)[LATEST])  # exactly the API's statement
        if mode == "driver":
            # the driver's own callback chaining: the least Python work per read it offers
            count = max(concurrency * 50, int(8000 * seconds))
            params = [(MODEL, 1, ids[i % len(ids)]) for i in range(count)]
            started = time.perf_counter()
            results = execute_concurrent_with_args(
                session,
                statement,
                params,
                concurrency=concurrency,
                execution_profile=PROFILE,
                raise_on_first_error=True,
            )
            assert all(ok for ok, _ in results)
            return count / (time.perf_counter() - started), count
        return uvloop.run(
            _connection_reads(DriverConnection(session, settings.keyspace, api), ids, concurrency, seconds)
        )
    finally:
        session.cluster.shutdown()


async def _acsylla_reads(
    settings: Settings, api: ApiSettings, ids: list[str], concurrency: int, seconds: float
) -> tuple[float, int]:
    connection = await AcsyllaConnection.open(settings, api)
    try:
        return await _connection_reads(connection, ids, concurrency, seconds)
    finally:
        await connection.close()


async def _connection_reads(
    connection: Connection, ids: list[str], concurrency: int, seconds: float
) -> tuple[float, int]:
    """``concurrency`` readers, each awaiting the API's own ``Connection.query`` of the latest prediction."""
    done = 0
    started = time.perf_counter()
    stop = started + seconds

    async def reader(offset: int) -> None:
        nonlocal done
        i = offset
        while time.perf_counter() < stop:
            rows = await connection.query(LATEST, (MODEL, 1, ids[i % len(ids)]))
            assert rows
            done += 1
            i += concurrency

    await asyncio.gather(*(reader(k) for k in range(concurrency)))
    return done / (time.perf_counter() - started), done


def flip_follow_ms(base: str, token: str, settings: Settings, flips: int = 4) -> list[float]:
    """Time from an alias write to the first answer from the new version, for promote/rollback pairs."""
    session = connect(settings, settings.keyspace)
    follow = []
    try:
        with httpx.Client(base_url=base, headers={"X-API-Key": token}, timeout=5) as client:
            for n in range(flips):
                target = 2 if n % 2 == 0 else 1
                session.execute("DELETE FROM model_aliases WHERE model = %s AND alias = 'champion'", (MODEL,))
                session.execute(
                    "INSERT INTO model_aliases (model, alias, version, updated_at) VALUES (%s, 'champion', %s, %s)",
                    (MODEL, target, datetime.now(UTC)),
                )
                written = time.perf_counter()
                while client.get(f"/v1/predictions/{MODEL}/card-000001").json().get("version") != target:
                    if time.perf_counter() - written > 5:
                        raise RuntimeError("alias flip not followed within 5 s")
                    time.sleep(0.001)
                follow.append((time.perf_counter() - written) * 1000)
                time.sleep(0.3)  # land the next flip at a random point of the TTL window
    finally:
        session.cluster.shutdown()
    return follow


def raw_reference(settings: Settings, ids: list[str], seconds: float, client: str) -> dict[str, tuple[float, float]]:
    """Raw reads of one client at each concurrency and mode, each in a fresh process:
    {"mode/concurrency": (rate, cpu)}."""
    raw: dict[str, tuple[float, float]] = {}
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        for mode in RAW_MODES[client]:
            for concurrency in RAW_CONCURRENCY:
                rate, cpu_us = pool.submit(raw_read_rate, settings, ids, concurrency, seconds, mode).result()
                raw[f"{mode}/{concurrency}"] = (rate, cpu_us)
                print(
                    f"raw reads  {client:<16} {mode:<8} concurrency {concurrency:>4}: {rate:>8,.0f} reads/s  "
                    f"client CPU {cpu_us:4.0f} µs/read",
                    flush=True,
                )
    return raw


def api_phases(
    vegeta: str,
    settings: Settings,
    ids: list[str],
    token: str,
    workers: int,
    seconds: float,
    client: str,
    http_server: str,
) -> tuple[list[LoadResult], list[LoadResult], list[LoadResult], list[float]]:
    """Fixed rates, the maximum, then 1/4 and 1/2 of it, against a fresh server; then alias flips. Pauses let
    backlogs drain."""
    port = free_port()
    tag = f"{http_server} {client} w{workers}"
    server = start_api(settings, port, workers, client, http_server)
    base = f"http://127.0.0.1:{port}"
    try:
        with tempfile.TemporaryDirectory() as folder:
            targets = Path(folder) / "targets.json"
            write_targets(targets, base, ids, token)
            attack(vegeta, targets, "warm-up", 500, 2, server.pid)
            loads = []
            for rate in (1000, 2000):
                time.sleep(2)
                loads.append(attack(vegeta, targets, f"{tag} fixed", rate, seconds, server.pid))
                print(loads[-1].line(), flush=True)
            maxima = []
            for concurrency in MAX_WORKERS:
                time.sleep(2)
                maxima.append(attack(vegeta, targets, f"{tag} max/{concurrency}", 0, seconds, server.pid, concurrency))
                print(maxima[-1].line(), flush=True)
            best = max(r.ok_rps for r in maxima)
            fractions = []
            for share in (4, 2):
                time.sleep(2)
                rate = max(1, round(best / share))
                fractions.append(attack(vegeta, targets, f"{tag} max/{share} rate", rate, seconds, server.pid))
                print(fractions[-1].line(), flush=True)
        try:
            follow = flip_follow_ms(base, token, settings)
        except Exception as error:  # an overloaded box can refuse the extra session; keep the load figures
            print(f"{tag} alias flips not measured: {type(error).__name__}: {error}", flush=True)
            follow = []
        print(f"{tag} alias flips followed after {', '.join(f'{f:.0f}' for f in follow)} ms (alias TTL 500 ms)")
    finally:
        server.terminate()
        server.wait(30)
    return loads, maxima, fractions, follow


def run(
    base_settings: Settings,
    seconds: float = 10.0,
    entities: int = 20_000,
    workers: tuple[int, ...] = (1, 2),
    repeats: int = 3,
    clients: tuple[str, ...] = ("acsylla",),
    servers: tuple[str, ...] = SERVERS,
) -> list[Measurement]:
    """Per client, raw reads then every API phase on each server, ``repeats`` times, interleaved within each
    repeat (a fresh API process each time); medians with spread."""
    settings = base_settings.model_copy(update={"keyspace": f"bench_lookup_{uuid.uuid4().hex[:8]}"})
    vegeta = vegeta_binary()
    print(f"seeding {entities:,} predictions in keyspace {settings.keyspace} ...", flush=True)
    ids, token = seed(settings, entities)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    # (best reads/s, client CPU µs per read at that setting) per client
    raw_runs: dict[str, list[tuple[float, float]]] = {c: [] for c in clients}
    api_runs: dict[tuple[str, str, int], list[tuple[list[LoadResult], LoadResult, list[LoadResult], list[float]]]] = {
        (c, s, w): [] for c in clients for s in servers for w in workers
    }
    try:
        for n in range(repeats):
            print(f"-- repeat {n + 1} of {repeats}", flush=True)
            for client in clients:
                raw = raw_reference(settings, ids, seconds / 2, client)
                raw_runs[client].append(max(raw.values()))
                for server in servers:
                    for w in workers:
                        loads, maxima, fractions, follow = api_phases(
                            vegeta, settings, ids, token, w, seconds, client, server
                        )
                        best = max(maxima, key=lambda r: r.ok_rps)
                        api_runs[client, server, w].append((loads, best, fractions, follow))
            print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    finally:
        session = connect(settings)
        try:
            session.execute(f"DROP KEYSPACE IF EXISTS {settings.keyspace}", timeout=60)
        finally:
            session.cluster.shutdown()
    measurements = []
    for client, runs in raw_runs.items():
        measurements += [
            Measurement.of(f"raw {client} reads, best setting", "reads/s", [rate for rate, _ in runs]),
            Measurement.of(f"raw {client} client CPU per read", "µs", [cpu for _, cpu in runs]),
        ]
    for (client, server, w), api in api_runs.items():
        label = f"API {server} on {client} ({w} worker{'s' if w > 1 else ''})"
        for i, rate in enumerate((1000, 2000)):
            measurements.append(Measurement.of(f"{label} p50 at {rate:,} req/s", "ms", [r[0][i].p50_ms for r in api]))
            measurements.append(Measurement.of(f"{label} p99 at {rate:,} req/s", "ms", [r[0][i].p99_ms for r in api]))
        measurements += [
            Measurement.of(f"{label} max throughput", "req/s", [r[1].ok_rps for r in api]),
            Measurement.of(f"{label} p99 at max throughput", "ms", [r[1].p99_ms for r in api]),
            Measurement.of(f"{label} server CPU per request at max", "µs", [r[1].server_cpu_us for r in api]),
            Measurement.of(f"{label} Cassandra CPU per request at max", "µs", [r[1].cassandra_cpu_us for r in api]),
            Measurement.of(f"{label} vegeta CPU per request at max", "µs", [r[1].vegeta_cpu_us for r in api]),
            Measurement.of(f"{label} p99 at 1/4 of max", "ms", [r[2][0].p99_ms for r in api]),
            Measurement.of(f"{label} p99 at 1/2 of max", "ms", [r[2][1].p99_ms for r in api]),
            Measurement.of(
                f"{label} server CPU per request at 2,000 req/s", "µs", [r[0][1].server_cpu_us for r in api]
            ),
            Measurement.of(
                f"{label} alias flip followed after", "ms", [f for r in api for f in r[3]] or [float("nan")]
            ),
        ]
    for line in summary(measurements):
        print(line, flush=True)
    return measurements


def summary(measurements: list[Measurement]) -> list[str]:
    """The lookup targets against this run's medians, each API against its own client's raw reads, and each
    server against the first one measured on the same client and workers."""
    by_name = {m.name: m for m in measurements}
    lines = []
    suffix = " max throughput"
    # "p99 at max throughput" ends with the suffix too: only the req/s measurement names a label
    labels = [m.name.removesuffix(suffix) for m in measurements if m.name.endswith(suffix) and m.unit == "req/s"]
    for label in labels:
        server, client = label.removeprefix("API ").split(" (")[0].split(" on ")
        raw = by_name[f"raw {client} reads, best setting"]
        p99 = by_name[f"{label} p99 at 2,000 req/s"].median
        best = by_name[f"{label} max throughput"]
        cpu = by_name[f"{label} server CPU per request at max"].median
        raw_cpu = by_name[f"raw {client} client CPU per read"].median
        quarter, half = (by_name[f"{label} p99 at 1/{n} of max"].median for n in (4, 2))
        cassandra, vegeta = (by_name[f"{label} {who} CPU per request at max"].median for who in ("Cassandra", "vegeta"))
        cores = (cpu + cassandra + vegeta) * best.median / 1e6
        lines += [
            f"{label}: at max, CPU per request: API {cpu:.0f} µs + Cassandra {cassandra:.0f} + vegeta {vegeta:.0f} "
            f"= {cores:.2f} cores busy at {best.median:,.0f} req/s; the API alone on a core: "
            f"{1e6 / cpu:,.0f} req/s",
            f"{label}: max {best.median:,.0f} req/s (target >= 8,000); p99 at 2,000 req/s {p99:,.2f} ms "
            f"(target <= 10 ms: {'met' if p99 <= 10 else f'missed by {p99 - 10:,.2f} ms'}); p99 at 1/4 of max "
            f"{quarter:,.2f} ms, at 1/2 of max {half:,.2f} ms",
            f"{label}: max / raw reads {ratio(best, raw):.2f} (target >= 0.80); server CPU {cpu:.0f} µs/request "
            f"(target <= 120) against {raw_cpu:.0f} µs per raw read",
        ]
    for label in labels:
        server, rest = label.removeprefix("API ").split(" on ", 1)
        baseline = next(other for other in labels if other.split(" on ", 1)[1] == rest)
        if baseline == label:
            continue
        first = baseline.removeprefix("API ").split(" on ", 1)[0]
        this, its = by_name[f"{label}{suffix}"], by_name[f"{label} server CPU per request at max"]
        that, theirs = by_name[f"{baseline}{suffix}"], by_name[f"{baseline} server CPU per request at max"]
        lines.append(
            f"{first} against {server} on {rest}: max {ratio(that, this):.2f}x, "
            f"server CPU per request at max {ratio(theirs, its):.2f}x"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each fixed-rate phase")
    parser.add_argument("--entities", type=int, default=20_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="API worker counts to measure")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clients", nargs="+", default=["acsylla"], choices=CLIENTS)
    parser.add_argument("--servers", nargs="+", default=list(SERVERS), choices=SERVERS, help="the first is the API's")
    args = parser.parse_args()
    measurements = run(
        Settings(),
        args.seconds,
        args.entities,
        tuple(args.workers),
        args.repeats,
        tuple(args.clients),
        tuple(args.servers),
    )
    for measurement in measurements:
        print(measurement)


if __name__ == "__main__":
    main()
