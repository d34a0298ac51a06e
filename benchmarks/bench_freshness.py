"""Freshness: from `producer.send` of an event to its prediction being readable by key.

A scorer worker process runs against an isolated keyspace; this process produces the synthetic stream at a
fixed rate and, for a sample of events, notes when the event's prediction record appears on
``<stream>.predictions``. The scorer produces that record only after Cassandra acknowledged the prediction
row, so at that moment a lookup can read it; a check afterwards reads sampled predictions through the lookup
API to confirm. Measuring on the topic instead of polling the API keeps the probe from loading the box it
measures. The figure includes the producer's linger, the scorer's batch wait, scoring and the writes.
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
    sent_at: float  # perf_counter


def produce_at_rate(settings: Settings, rate: float, seconds: float, every: int, samples: list[Sample]) -> None:
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
                samples.append(
                    Sample(record["entity_id"], record["event_id"], record["event_time"], time.perf_counter())
                )


def watch_predictions(
    settings: Settings, wanted: dict[str, float], seen: dict[str, float], done: threading.Event
) -> None:
    """Record when each wanted event's prediction record arrives (perf_counter), until ``done`` and all seen."""
    topic = settings.topic(STREAM, "predictions")
    codec = AvroCodec(open_store(settings), topic, "predictions")
    consumer = Consumer({**settings.kafka_config(), "group.id": f"fresh-{uuid.uuid4()}", "fetch.wait.max.ms": 5})
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_END) for p in partitions])
    arrivals: dict[str, float] = {}
    deadline = None
    try:
        while deadline is None or time.monotonic() < deadline:
            now = time.perf_counter()
            for message in consumer.consume(1000, 0.005):
                if message.error() is None:
                    arrivals.setdefault(codec.decode(message.value() or b"")["event_id"], now)
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
            done = threading.Event()
            watcher = threading.Thread(target=watch_predictions, args=(scoped, wanted, arrived, done))
            watcher.start()
            produce_at_rate(scoped, rate, seconds, max(1, int(rate // 50)), samples)  # ~50 samples a second
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
    api = start_api(settings, port, workers=1)
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


def run(settings: Settings, models: list[ExampleModel], rates: tuple[float, ...]) -> list[Measurement]:
    results = []
    for rate in rates:
        latencies = np.array(freshness(settings, models, rate))
        p50, p99 = np.percentile(latencies, [50, 99])
        results.append(Measurement(f"freshness p50 at {rate:,.0f} events/s", "ms", p50, latencies.min(), p99, 1))
        results.append(Measurement(f"freshness p99 at {rate:,.0f} events/s", "ms", p99, p50, latencies.max(), 1))
    return results
