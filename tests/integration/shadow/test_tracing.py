"""Shadow copies and challengers stay in each event's trace: the challenger's batch span links the events' spans."""

from __future__ import annotations

import threading

from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from schemas.synthetic import TransactionGenerator
from scorecast.producer import EventProducer
from scorecast.settings import Settings
from scorecast.telemetry import extract_context
from scorers.registry import ModelVersion
from scorers.worker import WorkerConfig, scorer_worker
from tests.integration.pipeline.test_observability import spans
from tests.integration.shadow.conftest import Spawn, finish, read_topic

__all__ = ["spans"]


def test_challengers_link_the_traces_the_events_started(
    pipeline_settings: Settings, registered: list[ModelVersion], spawn: Spawn, spans: InMemorySpanExporter
) -> None:
    settings = pipeline_settings
    with EventProducer(settings, "transactions") as producer:
        for record in TransactionGenerator(seed=5).generate(3).records:
            producer.send(record)
    finish(spawn("shadow-tee", "--idle-exit", "3"))
    config = WorkerConfig(
        stream="transactions", model="fraud", alias="challenger", source="shadow", sink="shadow-predictions"
    )
    with scorer_worker(settings, config) as worker:
        assert worker.run(threading.Event(), idle_exit_s=2.0).scored == 3
    finished = spans.get_finished_spans()
    sends = [s for s in finished if s.name == f"send {settings.topic('transactions', 'events')}"]
    assert len(sends) == 3
    processing = [s for s in finished if s.name == f"process {settings.topic('transactions', 'shadow')}"]
    assert {link.context.span_id for s in processing for link in s.links} == {s.context.span_id for s in sends}
    carried = {
        trace.get_current_span(extract_context(m.headers())).get_span_context().trace_id
        for m in read_topic(settings, settings.topic("transactions", "shadow-predictions"))
    }
    assert carried == {s.context.trace_id for s in sends}  # every challenger's record, in its event's trace
