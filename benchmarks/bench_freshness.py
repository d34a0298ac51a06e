"""Freshness: from `producer.send` of an event to its prediction being readable by key.

A scorer worker process runs against an isolated keyspace; this process produces the synthetic stream at a
fixed rate and notes the send time of a sample of events. The scorer produces an event's prediction record
only after Cassandra acknowledged the prediction row, so the record's create timestamp (set by the worker's
producer, same clock) is a moment at which a lookup can read the row: freshness is that timestamp minus the
send time. A check afterwards reads sampled predictions through the lookup API to confirm. Reading the topic
instead of polling the API, and decoding only sampled keys, keeps the probe from loading the box it measures.
The figure includes the producer's linger, the scorer's batch wait, scoring and the Cassandra write.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
from confluent_kafka import OFFSET_END, Consumer, TopicPartition

from benchmarks.bench_lookup import free_port, start_api
from benchmarks.bench_pipeline import STREAM, isolated, worker_env
from benchmarks.common import Measurement
from lookup_api.config import ApiSettings
from lookup_api.keys import KeyAdmin
from schemas.codec import AvroCodec
from schemas.registry import open_store
from schemas.synthetic import TransactionGenerator
from scorecast.cassandra import connect
from scorecast.producer import EventProducer
from scorecast.settings import Settings
from scorers.training import ExampleModel


@dataclass(frozen=True)
class Sample:
    entity_id: str
    event_id: str
    event_time_ms: int
    sent_at: float  # epoch seconds


def produce_at_rate(
    settings: Settings, rate: float, seconds: float, every: int, samples: list[Sample], sampled_keys: set[bytes]
) -> None:
    generator = TransactionGenerator(seed=31, start_ms=int(time.time() * 1000), events_per_s=rate)
    records = generator.generate(int(rate * seconds)).records
    started = time.perf_counter()
    with EventProducer(settings, STREAM) as producer:
        for i, record in enumerate(records):
            due = started + i / rate
            while (ahead := due - time.perf_counter()) > 0:
                time.sleep(min(ahead, 0.002))
            producer.send(record)
            if i % every == 0:
                sampled_keys.add(record["entity_id"].encode())
                samples.append(Sample(record["entity_id"], record["event_id"], record["event_time"], time.time()))


def watch_predictions(
    settings: Settings,
    sampled_keys: set[bytes],
    wanted: dict[str, float],
    seen: dict[str, float],
    done: threading.Event,
) -> None:
    """Record each wanted event's prediction record's create time (epoch s), until ``done`` and all seen.

    Only records keyed by a sampled entity are decoded: decoding all of them would take a good part of a core
    from the box being measured.
    """
    topic = settings.topic(STREAM, "predictions")
    codec = AvroCodec(open_store(settings), topic, "predictions")
    consumer = Consumer({**settings.kafka_config(), "group.id": f"fresh-{uuid.uuid4()}"})
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_END) for p in partitions])
    arrivals: dict[str, float] = {}
    deadline = None
    try:
        while deadline is None or time.monotonic() < deadline:
            for message in consumer.consume(1000, 0.1):
                if message.error() is None and message.key() in sampled_keys:
                    created_s = message.timestamp()[1] / 1000
                    arrivals.setdefault(codec.decode(message.value() or b"")["event_id"], created_s)
            if done.is_set():
                deadline = deadline or time.monotonic() + 30
                if all(event_id in arrivals for event_id in wanted):
                    break
    finally:
        consumer.close()
        seen.update({e: t for e, t in arrivals.items() if e in wanted})


def freshness(settings: Settings, models: list[ExampleModel], rate: float, seconds: float = 20.0) -> list[float]:
    """Produce→readable latencies (ms) of sampled events at ``rate`` events/s."""
    with isolated(settings, models, "fresh") as scoped:
        scorecast = str(Path(sys.executable).with_name("scorecast"))
        worker = subprocess.Popen(
            [scorecast, "worker", "score", "--stream", STREAM, "--model", "fraud"],
            env=worker_env(scoped),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(8)  # the worker loads its model and joins its group
            samples: list[Sample] = []
            wanted: dict[str, float] = {}
            arrived: dict[str, float] = {}
            sampled_keys: set[bytes] = set()
            done = threading.Event()
            watcher = threading.Thread(target=watch_predictions, args=(scoped, sampled_keys, wanted, arrived, done))
            watcher.start()
            # ~50 samples a second
            produce_at_rate(scoped, rate, seconds, max(1, int(rate // 50)), samples, sampled_keys)
            wanted.update({s.event_id: s.sent_at for s in samples})
            done.set()
            watcher.join()
            _check_served(scoped, samples[-20:])
        finally:
            worker.terminate()
            worker.wait(60)
        latencies = [(arrived[s.event_id] - s.sent_at) * 1000 for s in samples if s.event_id in arrived]
        if len(latencies) < len(samples):
            raise RuntimeError(f"{len(samples) - len(latencies)} sampled events were never scored")
        return latencies[len(latencies) // 10 :]  # the first seconds include the group's first assignment


def _check_served(settings: Settings, samples: list[Sample]) -> None:
    """The sampled predictions are readable through the lookup API (the latest of each entity)."""
    session = connect(settings, settings.keyspace)
    token = KeyAdmin(session).create("bench", rate_limit_rps=0)[1]
    session.cluster.shutdown()
    port = free_port()
    defaults = ApiSettings()
    api = start_api(settings, port, workers=1, client=defaults.cassandra_client, server=defaults.http_server)
    try:
        for sample in samples:
            response = httpx.get(
                f"http://127.0.0.1:{port}/v1/predictions/fraud/{sample.entity_id}",
                headers={"Authorization": f"Bearer {token}"},
            )
            if response.status_code != 200:
                raise RuntimeError(f"lookup of {sample.entity_id} answered {response.status_code}")
    finally:
        api.terminate()
        api.wait(30)


def run(
    settings: Settings, models: list[ExampleModel], rates: tuple[float, ...], repeats: int = 3
) -> list[Measurement]:
    """p50 and p99 at each rate: medians over ``repeats`` runs (a fresh worker and keyspace each), with spread."""
    results = []
    for rate in rates:
        runs = [np.percentile(freshness(settings, models, rate), [50, 99]) for _ in range(repeats)]
        for i, name in enumerate(("p50", "p99")):
            values = [float(r[i]) for r in runs]
            results.append(Measurement.of(f"freshness {name} at {rate:,.0f} events/s", "ms", values))
    return results


def main() -> None:
    """Freshness at a fraction of one worker's max throughput, measured in the same run, per prediction sink."""
    import argparse
    import os

    from benchmarks.__main__ import _models
    from benchmarks.bench_pipeline import scorecast_drain

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--n", type=int, default=20_000, help="events of the max-throughput drain")
    parser.add_argument("--fraction", type=float, default=0.5, help="of the max throughput")
    parser.add_argument("--seconds", type=float, default=20.0, help="of producing at that rate, per repeat")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--client", action="append", help="prediction sink(s); default: the settings'")
    args = parser.parse_args()
    models = _models()
    for client in args.client or [Settings().prediction_write_client]:
        settings = Settings().model_copy(update={"prediction_write_client": client})
        peak = scorecast_drain(settings, models, args.n, 1).rate
        rate = peak * args.fraction
        print(f"{client}: max {peak:,.0f} events/s; freshness at {rate:,.0f} events/s", flush=True)
        runs = [np.percentile(freshness(settings, models, rate, args.seconds), [50, 99]) for _ in range(args.repeats)]
        p50 = Measurement.of("p50", "ms", [float(r[0]) for r in runs])
        p99 = Measurement.of("p99", "ms", [float(r[1]) for r in runs])
        print(f"{client}: {p50}; {p99} (load {os.getloadavg()[0]:.1f})", flush=True)


if __name__ == "__main__":
    main()
