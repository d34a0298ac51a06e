"""Scorer telemetry: spans linked to the producer's trace, Prometheus metrics, and a clean SIGTERM drain."""

from __future__ import annotations

import signal
import socket
import time

import httpx
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from schemas.synthetic import TransactionGenerator
from scorecast.produce_cli import produce_synthetic
from scorecast.producer import EventProducer
from scorecast.settings import Settings
from scorecast.telemetry import configure
from scorers.registry import ModelVersion
from scorers.worker import WorkerConfig
from tests.integration.pipeline.conftest import RunWorker, SpawnWorker
from tests.integration.pipeline.test_delivery_guarantees import committed, stored_event_ids

STREAM = "transactions"


def test_scoring_spans_link_to_the_producers_trace(
    pipeline_settings: Settings, registered: list[ModelVersion], run_worker: RunWorker
) -> None:
    configure("scorecast-tests")
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = trace.get_tracer("test-producer")
    with tracer.start_as_current_span("produce") as produce_span, EventProducer(pipeline_settings, STREAM) as producer:
        for record in TransactionGenerator(seed=9).generate(50).records:
            producer.send(record)
    producer_trace = produce_span.get_span_context().trace_id
    run_worker(idle_exit_s=2.0)
    spans = exporter.get_finished_spans()
    scoring = [s for s in spans if s.name == "scorecast.score"]
    writing = [s for s in spans if s.name == "scorecast.write"]
    assert scoring
    assert writing
    assert all(link.context.trace_id == producer_trace for link in scoring[0].links)
    assert sum(int(str((s.attributes or {})["messaging.batch.message_count"])) for s in scoring) == 50


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_metrics_endpoint_counts_scored_events(
    pipeline_settings: Settings, registered: list[ModelVersion], spawn_worker: SpawnWorker
) -> None:
    produce_synthetic(pipeline_settings, STREAM, count=3_000, seed=4, labels=False)
    port = _free_port()
    worker = spawn_worker("--metrics-port", str(port))
    scored = 0.0
    deadline = time.monotonic() + 90
    try:
        while scored < 3_000 and time.monotonic() < deadline:
            time.sleep(0.5)
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
            except httpx.TransportError:
                continue
            scored = sum(
                float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.startswith("scorecast_events_scored")
            )
        assert scored == 3_000
        assert "scorecast_batch_size" in text
        assert "scorecast_write_seconds" in text
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)


def test_sigterm_drains_the_batch_in_hand_and_exits_cleanly(
    pipeline_settings: Settings, registered: list[ModelVersion], spawn_worker: SpawnWorker
) -> None:
    n = 60_000
    produce_synthetic(pipeline_settings, STREAM, count=n, seed=13, labels=False)
    group = pipeline_settings.group_id(WorkerConfig(stream=STREAM, model="fraud").group)
    worker = spawn_worker()
    deadline = time.monotonic() + 120
    while committed(pipeline_settings, group) == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    worker.send_signal(signal.SIGTERM)
    output, _ = worker.communicate(timeout=60)
    assert worker.returncode == 0, output
    assert "scored" in output
    done = committed(pipeline_settings, group)
    assert 0 < done <= n
    # Every committed event has its prediction: nothing was committed ahead of its write.
    assert len(set(stored_event_ids(pipeline_settings))) >= done
