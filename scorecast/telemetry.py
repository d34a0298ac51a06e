"""OpenTelemetry for every process: one tracer and meter provider, metrics served to Prometheus.

Kafka carries W3C trace context in message headers; ``extract_context`` reads it back so a consumer's spans
link to the producer's trace. Span export is the deployment's choice: add a span processor to the provider
(``trace.get_tracer_provider().add_span_processor(...)``, e.g. an OTLP exporter). Without one, spans are
still created and recorded (about 30 µs each), then dropped: a process that opens a span per request can
pass ``record_unexported=False`` so that its sampler drops spans until a processor is added (see
``SampleWhenExported``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from opentelemetry import metrics, propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, SynchronousMultiSpanProcessor, TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes


class SpanProcessors(SynchronousMultiSpanProcessor):
    """A provider's span processors, which know whether any was added (whether spans go anywhere)."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # the SDK leaves it unannotated
        self.exporting = False

    def add_span_processor(self, span_processor: SpanProcessor) -> None:
        super().add_span_processor(span_processor)
        self.exporting = True


class SampleWhenExported(Sampler):
    """``sampler`` once a span processor is there; before that, drop (a non-recording span, same trace id).

    A dropped span carries the sampled flag 0, so only a process whose spans propagate nowhere (a leaf such
    as the lookup API) should use it: a producer's downstream consumers would drop their spans too.
    """

    def __init__(self, processors: SpanProcessors, sampler: Sampler) -> None:
        self._processors = processors
        self._sampler = sampler

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        sampler = self._sampler if self._processors.exporting else ALWAYS_OFF
        return sampler.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return f"SampleWhenExported{{{self._sampler.get_description()}}}"


def configure(service_name: str, metrics_port: int | None = None, *, record_unexported: bool = True) -> None:
    """Install the SDK providers once per process; serve /metrics on ``metrics_port`` if given.

    The sampler is the SDK's (``OTEL_TRACES_SAMPLER``); with ``record_unexported=False`` it only applies once a
    span processor is added, and spans are dropped before that.
    """
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return  # already configured in this process
    resource = Resource.create({"service.name": service_name})
    readers = []
    if metrics_port is not None:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr="127.0.0.1")
        readers.append(PrometheusMetricReader())
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))
    trace.set_tracer_provider(tracer_provider(resource, record_unexported=record_unexported))


def tracer_provider(resource: Resource | None = None, *, record_unexported: bool = True) -> TracerProvider:
    """An SDK provider sampling as ``OTEL_TRACES_SAMPLER`` says; see ``configure`` for ``record_unexported``."""
    processors = SpanProcessors()
    provider = TracerProvider(resource=resource, active_span_processor=processors)
    if not record_unexported:
        provider.sampler = SampleWhenExported(processors, provider.sampler)  # tracers take it when created
    return provider


def extract_context(
    headers: Sequence[tuple[str, bytes | str | None]] | Mapping[str, bytes | str | None] | None,
) -> Context:
    """The trace context a producer injected into Kafka headers (empty context if none)."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
    carrier = {}
    for key, value in pairs:
        if value is not None:
            carrier[key] = value.decode() if isinstance(value, bytes) else value
    return propagate.extract(carrier)


def inject_headers() -> list[tuple[str, bytes]]:
    """The current trace context as Kafka headers."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return [(k, v.encode()) for k, v in carrier.items()]
