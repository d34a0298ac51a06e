"""The API's tracer provider: no recorded span while nothing exports, the caller's trace kept, spans once a
processor is added (sampled as OTEL_TRACES_SAMPLER says)."""

from __future__ import annotations

import pytest
from opentelemetry import propagate
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from scorecast.telemetry import tracer_provider

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
CALLER = {"traceparent": f"00-{TRACE_ID}-b7ad6b7169203331-01"}


def test_spans_are_dropped_until_a_processor_is_added() -> None:
    provider = tracer_provider(record_unexported=False)
    tracer = provider.get_tracer("test")
    span = tracer.start_span("GET", context=propagate.extract(CALLER), kind=SpanKind.SERVER)
    assert not span.is_recording()
    assert f"{span.get_span_context().trace_id:032x}" == TRACE_ID  # still in the caller's trace

    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    span = tracer.start_span("GET", context=propagate.extract(CALLER), kind=SpanKind.SERVER)
    assert span.is_recording()
    span.end()
    [finished] = exporter.get_finished_spans()
    assert finished.parent is not None
    assert f"{finished.parent.trace_id:032x}" == TRACE_ID


def test_spans_are_recorded_without_a_processor_by_default() -> None:
    assert tracer_provider().get_tracer("test").start_span("GET").is_recording()


def test_the_configured_sampler_applies_once_exported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    provider = tracer_provider(record_unexported=False)
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    assert not provider.get_tracer("test").start_span("GET").is_recording()
