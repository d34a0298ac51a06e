"""Where a scorer worker's time goes, stage by stage: one worker run in this process drains a backlog, and each
stage's wall time and thread CPU time are summed per event.

    flock bench.lock python -m benchmarks.worker_stages --client acsylla --n 40000 [--serial]

Stages are timed by wrapping the methods that do them (consume, decode + score, the Cassandra write, producing
and flushing prediction records, commits, and with overlap the consumer's wait for the batch being written).
The wrappers cost ~1 µs a call, a few calls per batch. The rate leaves out the worker's idle exit (1 s); the
consume stage includes it.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import scorecast.batch_consumer
import scorers.outputs
import scorers.worker
from benchmarks.bench_pipeline import STREAM, isolated
from benchmarks.cpu import CpuSpan, local_service_pid
from scorecast.app.produce_cli import produce_synthetic
from scorecast.settings import Settings
from scorers.acsylla_sink import AcsyllaPredictionWriter
from scorers.prediction_sink import PredictionWriter
from scorers.worker import WorkerConfig, scorer_worker

IDLE_EXIT_S = 1.0

STAGES: list[tuple[Any, str, str]] = [
    (scorecast.batch_consumer.KafkaReader, "take", "consume (the idle exit's second included)"),
    (scorers.worker.BatchScorer, "handle", "decode + score"),
    (scorecast.batch_consumer.BatchConsumer, "_settle_in_flight", "wait for the batch being written"),
    (scorecast.batch_consumer.BatchConsumer, "_commit", "commit"),
    (scorers.outputs.BatchOutputs, "deliver", "delivery (all of it)"),
    (AcsyllaPredictionWriter, "write", "  Cassandra write"),
    (PredictionWriter, "write", "  Cassandra write"),
    (scorers.outputs.BatchOutputs, "_produce", "  produce records (encode included)"),
    (scorers.outputs.BatchOutputs, "_encode", "    encode records"),
    (scorers.outputs.BatchOutputs, "_flush", "  wait for Kafka's acknowledgement"),
]


class StageClock:
    def __init__(self) -> None:
        self.wall: defaultdict[str, float] = defaultdict(float)
        self.cpu: defaultdict[str, float] = defaultdict(float)

    def wrap(self, owner: Any, name: str, stage: str) -> None:
        method: Callable[..., Any] = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return method(*args, **kwargs)
            finally:
                self.wall[stage] += time.perf_counter() - wall
                self.cpu[stage] += time.thread_time() - cpu

        setattr(owner, name, timed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--client", default="acsylla", choices=("acsylla", "cassandra-driver"))
    parser.add_argument("--n", type=int, default=40_000)
    parser.add_argument("--serial", action="store_true", help="writes not overlapped with scoring")
    args = parser.parse_args()
    from benchmarks.__main__ import _models

    clock = StageClock()
    for owner, name, stage in STAGES:
        clock.wrap(owner, name, stage)
    settings = Settings().model_copy(
        update={
            "prediction_write_client": args.client,
            "worker_overlap_writes": not args.serial,
            "onnx_device": "cpu",
        }
    )
    with isolated(settings, _models(), "stages") as scoped:
        produce_synthetic(scoped, STREAM, count=args.n, seed=5, labels=False)
        span = CpuSpan(
            {
                "worker": [os.getpid()],
                "Kafka": [local_service_pid(scoped, "kafka")],
                "Cassandra": [local_service_pid(scoped, "cassandra")],
            }
        )
        with scorer_worker(scoped, WorkerConfig(stream=STREAM, model="fraud")) as worker:
            started, cpu = time.perf_counter(), time.process_time()
            span.start()
            stats = worker.run(threading.Event(), idle_exit_s=IDLE_EXIT_S)
            shares = span.stop()
            seconds = time.perf_counter() - started - IDLE_EXIT_S
            cpu = time.process_time() - cpu
    events = max(stats.scored, 1)
    mode = "serial" if args.serial else "overlapped"
    print(
        f"{args.client} sink, {mode}: {stats.scored} events in {stats.batches} batches, {events / seconds:,.0f} "
        f"events/s, process CPU {cpu / events * 1e6:.1f} µs/event (load {os.getloadavg()[0]:.1f})"
    )
    print(
        "  box CPU (the idle exit's second included): "
        + ", ".join(f"{party} {us:.1f}" for party, us in shares.per_unit_us(events).items())
        + " µs/event"
    )
    for _, _, stage in dict.fromkeys(STAGES, None):
        if stage in clock.wall:
            print(
                f"  {stage:40s} {clock.wall[stage] / events * 1e6:6.1f} µs/event wall"
                f" ({clock.cpu[stage] / events * 1e6:5.1f} µs CPU)"
            )
            del clock.wall[stage]


if __name__ == "__main__":
    main()
