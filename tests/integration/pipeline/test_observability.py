"""Scorer telemetry: spans linked to the producer's trace, Prometheus metrics, and a clean SIGTERM drain."""

from __future__ import annotations

import math
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from schemas.synthetic import TransactionGenerator
from scorecast.app.produce_cli import produce_synthetic
from scorecast.producer import EventProducer
from scorecast.settings import Settings
from scorecast.telemetry import ScorecastTracerProvider, configure, extract_context, tracing_exported
from scorers.registry import ModelVersion
from scorers.worker import WorkerConfig
from tests.integration.lookup_api.conftest import serve
from tests.integration.pipeline.conftest import RunWorker, SpawnWorker, worker_env
from tests.integration.pipeline.test_delivery_guarantees import committed, stored_event_ids
from tests.integration.producer.reading import read_topic
from tests.scrape import bucket_bounds, histogram_quantile, samples, scrape

STREAM = "transactions"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Spans of this test, in memory; afterwards the provider is back to exporting nothing (no per-event spans)."""
    configure("scorecast-tests")
    provider = trace.get_tracer_provider()
    assert isinstance(provider, ScorecastTracerProvider)
    exporter = InMemorySpanExporter()
    processor = _WhileOpen(exporter)
    exporting = provider.processors.exporting
    provider.add_span_processor(processor)
    yield exporter
    processor.open = False
    provider.processors.exporting = exporting


class _WhileOpen(SimpleSpanProcessor):
    """Exports only until the test ends (a provider's processors cannot be removed)."""

    open = True

    def on_end(self, span: ReadableSpan) -> None:
        if self.open:
            super().on_end(span)


def test_each_event_starts_a_trace_that_scoring_and_its_prediction_carry_on(
    pipeline_settings: Settings, registered: list[ModelVersion], run_worker: RunWorker, spans: InMemorySpanExporter
) -> None:
    with EventProducer(pipeline_settings, STREAM) as producer:
        for record in TransactionGenerator(seed=9).generate(5).records:
            producer.send(record)
    run_worker(idle_exit_s=2.0)
    finished = spans.get_finished_spans()
    events_topic = pipeline_settings.topic(STREAM, "events")
    sends = [s for s in finished if s.name == f"send {events_topic}"]
    assert len(sends) == 5
    assert all(s.kind is SpanKind.PRODUCER and s.parent is None for s in sends)
    event_traces = {s.context.trace_id for s in sends}
    assert len(event_traces) == 5  # one trace per event
    processing = [s for s in finished if s.name == f"process {events_topic}"]
    assert processing
    assert all(s.kind is SpanKind.CONSUMER for s in processing)
    linked = {link.context.span_id for s in processing for link in s.links}
    assert linked == {s.context.span_id for s in sends}  # the batch span links every event's send span
    writing = [s for s in finished if s.name == "scorecast.write"]
    assert {w.parent.span_id for w in writing if w.parent} <= {p.context.span_id for p in processing}
    assert len(writing) == len(processing)  # the write is in its batch's trace, not a trace of its own
    # The prediction records carry each event's trace on, for whatever consumes the predictions topic.
    carried = {
        trace.get_current_span(extract_context(m.headers())).get_span_context().trace_id
        for m in read_topic(pipeline_settings, pipeline_settings.topic(STREAM, "predictions"), 5)
    }
    assert carried == event_traces


def test_a_lookup_answers_with_the_trace_that_scored_its_prediction(
    pipeline_settings: Settings, registered: list[ModelVersion], run_worker: RunWorker, spans: InMemorySpanExporter
) -> None:
    events_topic = pipeline_settings.topic(STREAM, "events")
    traces: dict[str, str] = {}  # entity -> the trace its event's send span started
    with EventProducer(pipeline_settings, STREAM) as producer:
        for record in TransactionGenerator(seed=12).generate(20).records:
            if record["entity_id"] in traces:
                continue  # one event per entity: a lookup returns its entity's latest prediction
            producer.send(record)
            send = spans.get_finished_spans()[-1]
            assert send.name == f"send {events_topic}"
            traces[record["entity_id"]] = format(send.context.trace_id, "032x")
    run_worker(idle_exit_s=2.0)
    spans.clear()
    entity = next(iter(traces))
    with serve(pipeline_settings, auth_enabled=False) as client:
        one = client.get(f"/v1/predictions/fraud/{entity}")
        batch = client.post("/v1/predictions/fraud:batch", json={"entity_ids": list(traces)})
    assert one.status_code == 200, one.text
    assert one.json()["trace_id"] == traces[entity]
    assert {r["entity_id"]: r["trace_id"] for r in batch.json()["results"]} == traces
    lookups = {s.name: s for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER}
    point = lookups["GET /v1/predictions/{model}/{entity_id}"].attributes or {}
    assert point["scorecast.scoring.trace_ids"] == (traces[entity],)
    many = lookups["POST /v1/predictions/{model}:batch"].attributes or {}
    named = many["scorecast.scoring.trace_ids"]
    assert isinstance(named, tuple)
    assert set(named) == set(traces.values())


def test_nothing_is_traced_per_event_while_spans_go_nowhere(
    pipeline_settings: Settings, registered: list[ModelVersion], run_worker: RunWorker
) -> None:
    configure("scorecast-tests")
    assert not tracing_exported()
    with EventProducer(pipeline_settings, STREAM) as producer:
        for record in TransactionGenerator(seed=9).generate(3).records:
            producer.send(record)
    assert run_worker(idle_exit_s=2.0).scored == 3


def test_scorecast_produce_under_otel_traces_exporter_starts_each_events_trace(pipeline_settings: Settings) -> None:
    scorecast = Path(sys.executable).with_name("scorecast")
    env = {**worker_env(pipeline_settings), "OTEL_TRACES_EXPORTER": "console", "OTEL_SERVICE_NAME": "producer-x"}
    done = subprocess.run(
        [str(scorecast), "produce", "--stream", STREAM, "--synthetic", "3", "--no-labels"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    topic = pipeline_settings.topic(STREAM, "events")
    assert done.stdout.count(f'"name": "send {topic}"') == 3
    traces = {
        trace.get_current_span(extract_context(m.headers())).get_span_context().trace_id
        for m in read_topic(pipeline_settings, topic, 3)
    }
    assert len(traces) == 3
    assert 0 not in traces  # every event carries a valid traceparent of its own


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_metrics_scrape_parses_and_gives_a_p99(
    pipeline_settings: Settings, registered: list[ModelVersion], spawn_worker: SpawnWorker
) -> None:
    produce_synthetic(pipeline_settings, STREAM, count=3_000, seed=4, labels=False)
    port = _free_port()
    worker = spawn_worker("--metrics-port", str(port))
    scored = written = 0.0
    deadline = time.monotonic() + 90
    try:
        # Scored counts at scoring; a batch's write is timed once written, which overlaps the next batch's scoring.
        while (scored < 3_000 or not written) and time.monotonic() < deadline:
            time.sleep(0.5)
            try:
                families = scrape(f"http://127.0.0.1:{port}/metrics")
            except httpx.TransportError:
                continue
            scored = sum(s.value for s in samples(families, "scorecast_events_scored_total"))
            written = sum(s.value for s in samples(families, "scorecast_write_duration_seconds_count"))
        assert scored == 3_000
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
    # Per-version series: each sample names exactly one version (the champion here).
    versions = {s.labels["version"] for s in samples(families, "scorecast_events_scored_total")}
    assert versions == {str(registered[0].version)}
    for name in ("scorecast_scoring_duration_seconds", "scorecast_write_duration_seconds"):
        bounds = bucket_bounds(families, name)
        assert bounds[0] == 0.0005
        assert bounds[-2:] == [10.0, math.inf]
        p99 = histogram_quantile(0.99, families, name)
        assert 0 < p99 <= 10.0, (name, p99)
    assert sum(s.value for s in samples(families, "scorecast_batch_size_count")) >= 1
    assert samples(families, "scorecast_consumer_lag")
    assert all(s.value >= 0 for s in samples(families, "scorecast_consumer_lag"))


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
