"""End-to-end scoring throughput against its baselines, measured in one run on the same box.

- ceiling: Cassandra's write ceiling, the fastest client's raw insert rate of the same prediction rows
  (bench_cassandra);
- naive: poll one event, decode it, score one row, insert it synchronously (the pipeline people write first);
- scorecast: `scorecast worker score` processes (1 and 2) draining a pre-filled events topic, writing through
  each prediction sink (``SCORECAST_PREDICTION_WRITE_CLIENT``) in turn, interleaved; the rate is taken
  from the group's committed offsets, so it counts only events whose writes were acknowledged, and the
  worker's CPU per event over the same span (its user + system time, from /proc); ``--before`` adds each sink
  with writes not overlapped with scoring (``SCORECAST_WORKER_OVERLAP_WRITES=false``, one batch at a time);
- worker RSS (peak resident memory of a worker process).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from benchmarks.common import Measurement, measure
from benchmarks.cpu import CpuShares, CpuSpan, local_service_pid
from infra.init import initialise
from schemas.codec import AvroCodec
from schemas.features import encode, load_feature_spec
from schemas.registry import open_store
from scorecast.app.produce_cli import produce_synthetic
from scorecast.cassandra import connect
from scorecast.io.cql import insert_prediction
from scorecast.settings import Settings
from scorers.registry import Registry
from scorers.runtime import OnnxModel
from scorers.training import ExampleModel, register_examples
from scorers.worker import WorkerConfig

STREAM = "transactions"
GROUP = WorkerConfig(stream=STREAM, model="fraud").group


@contextmanager
def isolated(settings: Settings, models: list[ExampleModel], tag: str) -> Iterator[Settings]:
    """A keyspace and topic prefix of their own, initialised, with the example models registered; then dropped."""
    run = uuid.uuid4().hex[:8]
    scoped = settings.model_copy(
        update={"keyspace": f"bench_{tag}_{run}", "topic_prefix": f"bench.{tag}.{run}.", "topic_partitions": 4}
    )
    initialise(scoped, [STREAM])
    with Registry.open(scoped) as registry:
        register_examples(registry, models)
    try:
        yield scoped
    finally:
        session = connect(scoped)
        session.execute(f"DROP KEYSPACE IF EXISTS {scoped.keyspace}", timeout=120)
        session.cluster.shutdown()


def committed(settings: Settings, group: str, consumer: Consumer) -> int:
    topic = settings.topic(STREAM, "events")
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    offsets = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
    return sum(max(tp.offset, 0) for tp in offsets)


def worker_env(settings: Settings) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SCORECAST_")}
    return {**base, **settings.model_copy(update={"onnx_device": "cpu"}).environment()}


def _members_with_partitions(admin: AdminClient, group: str) -> int:
    description = admin.describe_consumer_groups([group])[group].result()
    return sum(1 for m in description.members if m.assignment and m.assignment.topic_partitions)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass(frozen=True)
class Drain:
    rate: float  # events/s, committed
    peak_rss_mb: float
    # Over the drain, CPU µs per event of: the workers, Kafka, Cassandra, the rest of the box, and its idle time
    shares_us: dict[str, float]

    @property
    def cpu_us_per_event(self) -> float:
        return self.shares_us["workers"]


def scorecast_drain(
    settings: Settings,
    models: list[ExampleModel],
    n: int,
    workers: int,
    write_client: str | None = None,
    overlap: bool | None = None,
) -> Drain:
    """The drain of a backlog of ``n`` events by ``workers`` processes. ``write_client`` picks the workers'
    prediction sink and ``overlap`` whether they write a batch while scoring the next (the settings' by default)."""
    if write_client is not None:
        settings = settings.model_copy(update={"prediction_write_client": write_client})
    if overlap is not None:
        settings = settings.model_copy(update={"worker_overlap_writes": overlap})
    with isolated(settings, models, f"w{workers}") as scoped:
        scorecast = str(Path(sys.executable).with_name("scorecast"))
        processes = [
            subprocess.Popen(
                [scorecast, "worker", "score", "--stream", STREAM, "--model", "fraud"],
                env=worker_env(scoped),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(workers)
        ]
        # Every worker holds partitions before the events arrive: start-up and first rebalances are not
        # throughput. The workers are paused while the backlog is produced (a few seconds, well inside the
        # group's session timeout): a producer on the same two cores would take CPU from the pipeline, and the
        # ceiling it is compared with runs alone.
        admin = AdminClient(scoped.kafka_config())
        deadline = time.monotonic() + 120
        while _members_with_partitions(admin, scoped.group_id(GROUP)) < workers and time.monotonic() < deadline:
            time.sleep(0.2)
        for process in processes:
            process.send_signal(signal.SIGSTOP)
        try:
            produce_synthetic(scoped, STREAM, count=n, seed=21, labels=False)
        finally:
            for process in processes:
                process.send_signal(signal.SIGCONT)
        group = scoped.group_id(GROUP)
        probe = Consumer({**scoped.kafka_config(), "group.id": group})
        try:
            first = last = None
            span = CpuSpan(
                {
                    "workers": [p.pid for p in processes],
                    "Kafka": [local_service_pid(scoped, "kafka")],
                    "Cassandra": [local_service_pid(scoped, "cassandra")],
                }
            )
            shares: CpuShares | None = None
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                if any(process.poll() is not None for process in processes):
                    raise RuntimeError(f"a worker exited early (code {[p.poll() for p in processes]})")
                done = committed(scoped, group, probe)
                now = time.perf_counter()
                if first is None and done > 0:
                    first = (now, done)
                    span.start()
                if done >= n:
                    last = (now, done)
                    shares = span.stop()
                    break
                time.sleep(0.05)
            rss = max(peak_rss_mb(p.pid) for p in processes)
        finally:
            probe.close()
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(60)
        if first is None or last is None or shares is None:
            raise RuntimeError(f"{workers} worker(s) did not drain {n} events in time")
        events = last[1] - first[1]
        return Drain(events / (last[0] - first[0]), rss, shares.per_unit_us(events))


def naive_rate(settings: Settings, models: list[ExampleModel], n: int) -> float:
    """Poll one event, decode it, score one row, insert it synchronously: events/s."""
    with isolated(settings, models, "naive") as scoped:
        produce_synthetic(scoped, STREAM, count=n, seed=22, labels=False)
        spec = load_feature_spec(STREAM)
        topic = scoped.topic(STREAM, "events")
        codec = AvroCodec(open_store(scoped), topic, f"{STREAM}.events")
        model = OnnxModel.load(models[0].onnx, spec, device="cpu")
        session = connect(scoped, scoped.keyspace)
        insert = session.prepare(insert_prediction(scoped.keyspace))
        consumer = Consumer(
            {**scoped.kafka_config(), "group.id": f"naive-{uuid.uuid4()}", "auto.offset.reset": "earliest"}
        )
        consumer.subscribe([topic])
        done = 0
        started = None
        try:
            while done < n:
                message = consumer.poll(5.0)
                if message is None or message.error() is not None:
                    continue
                started = started or time.perf_counter()
                record = codec.decode(message.value() or b"")
                score = float(model.predict(encode(spec, [record]))[0])
                now_ms = int(time.time() * 1000)
                session.execute(
                    insert,
                    ("fraud", 1, record["entity_id"], record["event_time"], record["event_id"], score, now_ms, "naive"),
                )
                done += 1
            return n / (time.perf_counter() - (started or time.perf_counter()))
        finally:
            consumer.close()
            session.cluster.shutdown()


WRITE_CLIENTS = ("cassandra-driver", "acsylla")


def scorecast_name(workers: int, client: str) -> str:
    return f"scorecast end-to-end, {workers} worker{'s' if workers > 1 else ''}, {client} sink"


def run(
    settings: Settings,
    models: list[ExampleModel],
    n: int = 100_000,
    repeats: int = 3,
    workers: tuple[int, ...] = (1, 2),
    clients: tuple[str, ...] = WRITE_CLIENTS,
) -> list[Measurement]:
    """The naive pipeline, then scorecast with each worker count and sink, interleaved repeat by repeat (so a
    before/after ratio compares runs on the same box state), and the workers' peak RSS."""
    drains: dict[tuple[int, str], list[Drain]] = {(w, c): [] for w in workers for c in clients}
    results = [measure("naive per-event pipeline", "events/s", lambda: naive_rate(settings, models, 3_000), repeats)]
    for _ in range(repeats):
        for (count, client), values in drains.items():
            values.append(scorecast_drain(settings, models, n, count, client))
    results += [
        Measurement.of(scorecast_name(w, c), "events/s", [d.rate for d in values]) for (w, c), values in drains.items()
    ]
    results.append(
        Measurement.of("scorer worker peak RSS", "MB", [d.peak_rss_mb for values in drains.values() for d in values])
    )
    for (count, client), values in drains.items():  # where the box's CPU went while one worker drained
        if count == 1:
            results += [
                Measurement.of(f"{SHARES}{client} sink: {party}", "µs CPU/event", [d.shares_us[party] for d in values])
                for party in values[0].shares_us
            ]
    return results


# The names of the CPU-share measurements of 1 worker: the prefix, then "<client> sink: <party>".
SHARES = "box CPU per event, 1 worker, "


def cpu_shares_line(drain: Drain) -> str:
    return "box CPU per event: " + ", ".join(f"{party} {us:.1f} µs" for party, us in drain.shares_us.items())


def main() -> None:
    """Before/after of the prediction sink: Cassandra's ceiling, then 1 worker on each sink, interleaved."""
    import argparse

    from benchmarks import bench_cassandra
    from benchmarks.__main__ import _models

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--n", type=int, default=20_000, help="events (and rows) per run")
    parser.add_argument("--repeats", type=int, default=5, help="pipeline repeats (the ceiling takes 3)")
    parser.add_argument("--before", action="store_true", help="also each sink with writes not overlapped")
    args = parser.parse_args()
    settings = Settings()
    models = _models()
    ceiling, writes = bench_cassandra.run(settings, n=args.n, repeats=3)
    for line in bench_cassandra.report(ceiling, writes):
        print(line, flush=True)
    variants = [(client, True) for client in WRITE_CLIENTS]
    if args.before:
        variants += [(client, False) for client in WRITE_CLIENTS]
    drains: dict[tuple[str, bool], list[Drain]] = {variant: [] for variant in variants}
    for _ in range(args.repeats):
        for (client, overlap), values in drains.items():
            drain = scorecast_drain(settings, models, args.n, 1, client, overlap)
            values.append(drain)
            print(
                f"1 worker, {client} sink, {'overlapped' if overlap else 'serial'} writes: {drain.rate:,.0f} events/s,"
                f" {drain.cpu_us_per_event:.1f} µs CPU/event (load {os.getloadavg()[0]:.1f}); {cpu_shares_line(drain)}",
                flush=True,
            )
    medians = {}
    for (client, overlap), values in drains.items():
        name = f"{client}, {'overlapped' if overlap else 'serial'}"
        medians[client, overlap] = rate = Measurement.of(name, "events/s", [d.rate for d in values])
        cpu = Measurement.of(name, "µs CPU/event", [d.cpu_us_per_event for d in values])
        print(rate, f"= {rate.median / ceiling.median:.2f} of the ceiling;", cpu)
    for overlap in sorted({overlap for _, overlap in variants}, reverse=True):
        a, d = drains["acsylla", overlap], drains["cassandra-driver", overlap]
        pairs = [x.rate / y.rate for x, y in zip(a, d, strict=True)]
        print(
            f"acsylla / cassandra-driver, {'overlapped' if overlap else 'serial'}: "
            f"{medians['acsylla', overlap].median / medians['cassandra-driver', overlap].median:.2f}x "
            f"(pairwise {', '.join(f'{p:.2f}' for p in pairs)})"
        )
    if args.before:
        for client in WRITE_CLIENTS:
            print(f"{client}: overlapped / serial {medians[client, True].median / medians[client, False].median:.2f}x")


if __name__ == "__main__":
    main()
