"""OpenTelemetry for every process: the SDK configured from the standard ``OTEL_*`` environment, metrics
served to Prometheus.

Kafka carries W3C trace context in message headers; ``extract_context`` reads it back so a consumer's spans
link to the producer's trace. Span export is the deployment's choice: ``OTEL_TRACES_EXPORTER`` (``otlp`` with
the ``otlp`` extra, ``console``), or a span processor added to the provider. Without one, a span is still
created and recorded (about 30 µs), then dropped: per-event spans are only opened when ``tracing_exported()``,
and a process that opens a span per request can pass ``record_unexported=False`` so that its sampler drops
spans until a processor is added (see ``SampleWhenExported``).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping, Sequence
from importlib.metadata import entry_points
from typing import Any

from opentelemetry import metrics, propagate, trace
from opentelemetry.context import Context
from opentelemetry.environment_variables import OTEL_METRICS_EXPORTER, OTEL_TRACES_EXPORTER
from opentelemetry.metrics._internal import _ProxyMeterProvider
from opentelemetry.sdk.environment_variables import OTEL_SDK_DISABLED, OTEL_SERVICE_NAME
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, SynchronousMultiSpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

from scorecast.errors import ConfigError

# Latency histograms' buckets in seconds, 0.5 ms to 10 s: a batch, a write or a lookup falls inside, so
# histogram_quantile() can tell a 2 ms p99 from a 20 ms one.
LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# scorecast's instruments bind to this (the API's own proxy class): set by ``configure``, even where the global
# provider belongs to someone else.
_SCORECAST_METERS = _ProxyMeterProvider()
_configured = threading.Event()


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


def configure(
    service_name: str,
    metrics_port: int | None = None,
    *,
    record_unexported: bool = True,
    metrics_host: str | None = None,
) -> None:
    """Install the SDK providers once per process, from the standard ``OTEL_*`` environment; serve /metrics on
    ``metrics_host:metrics_port`` if a port is given (the host defaults to ``Settings.metrics_host``).

    ``OTEL_SERVICE_NAME`` (else ``service_name``) and ``OTEL_RESOURCE_ATTRIBUTES`` name the process;
    ``OTEL_TRACES_EXPORTER`` / ``OTEL_METRICS_EXPORTER`` pick exporters by their registered names (``console``,
    ``otlp`` with the ``otlp`` extra, ...); unset or ``none`` exports nothing. The sampler is the SDK's
    (``OTEL_TRACES_SAMPLER``); with ``record_unexported=False`` it only applies once a span processor is added.

    Under ``opentelemetry-instrument`` the global providers already exist: the tracer provider is kept as it
    is, and scorecast's instruments (``get_meter``) get a provider of their own, so /metrics still serves them.
    """
    if _configured.is_set():
        return
    _configured.set()
    resource = Resource.create({} if os.environ.get(OTEL_SERVICE_NAME) else {"service.name": service_name})
    # OTEL_SDK_DISABLED=true: the SDK's providers hand out no-op tracers and meters; no exporter is set up either.
    disabled = os.environ.get(OTEL_SDK_DISABLED, "").strip().lower() == "true"
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = tracer_provider(resource, record_unexported=record_unexported)
        for exporter in [] if disabled else _span_exporters():
            provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
    readers = [] if disabled else _metric_readers()
    if metrics_port is not None:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from prometheus_client import start_http_server

        if metrics_host is None:
            from scorecast.settings import Settings

            metrics_host = Settings().metrics_host
        start_http_server(metrics_port, addr=metrics_host)
        readers.append(PrometheusMetricReader())
    meters = MeterProvider(resource=resource, metric_readers=readers)
    _SCORECAST_METERS.on_set_meter_provider(meters)
    if not isinstance(metrics.get_meter_provider(), MeterProvider):
        metrics.set_meter_provider(meters)  # libraries' instruments land beside scorecast's


def get_meter(name: str) -> metrics.Meter:
    """A meter of scorecast's own provider: its instruments bind to it when ``configure`` runs (no-ops until)."""
    return _SCORECAST_METERS.get_meter(name)


def tracing_exported() -> bool:
    """Whether spans go anywhere: per-event spans are only worth their cost (~5-30 µs each) then."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, ScorecastTracerProvider):
        return provider.processors.exporting
    return isinstance(provider, TracerProvider)  # configured by someone else (opentelemetry-instrument): yes


class ScorecastTracerProvider(TracerProvider):
    """An SDK tracer provider that knows whether a span processor was added."""

    def __init__(self, resource: Resource | None, processors: SpanProcessors) -> None:
        super().__init__(resource=resource, active_span_processor=processors)
        self.processors = processors


def tracer_provider(resource: Resource | None = None, *, record_unexported: bool = True) -> TracerProvider:
    """An SDK provider sampling as ``OTEL_TRACES_SAMPLER`` says; see ``configure`` for ``record_unexported``."""
    processors = SpanProcessors()
    provider = ScorecastTracerProvider(resource, processors)
    if not record_unexported:
        provider.sampler = SampleWhenExported(processors, provider.sampler)  # tracers take it when created
    return provider


def _exporter_names(variable: str) -> list[str]:
    """Names listed in an ``OTEL_*_EXPORTER`` variable. Unset means none here (the spec's default is otlp):
    a process exports only when told to."""
    names = [n.strip() for n in os.environ.get(variable, "").split(",") if n.strip()]
    return [] if "none" in names else names


def _load_exporter(group: str, name: str, variable: str) -> type[Any]:
    """The exporter class registered under ``name`` (the SDK's entry points); ConfigError if none is."""
    found = entry_points(group=group, name=name)
    if not found:
        hint = " (pip install 'scorecast[otlp]')" if name.startswith("otlp") else ""
        raise ConfigError(f"{variable}={name}: no such OpenTelemetry exporter is installed{hint}")
    loaded: type[Any] = next(iter(found)).load()
    return loaded


def _span_exporters() -> list[SpanExporter]:
    return [
        _load_exporter("opentelemetry_traces_exporter", name, OTEL_TRACES_EXPORTER)()
        for name in _exporter_names(OTEL_TRACES_EXPORTER)
    ]


def _metric_readers() -> list[MetricReader]:
    readers: list[MetricReader] = []
    for name in _exporter_names(OTEL_METRICS_EXPORTER):
        kind = _load_exporter("opentelemetry_metrics_exporter", name, OTEL_METRICS_EXPORTER)
        # Exporters are pushed periodically (OTEL_METRIC_EXPORT_INTERVAL); a reader (prometheus) is used as it is.
        readers.append(kind() if issubclass(kind, MetricReader) else PeriodicExportingMetricReader(kind()))
    return readers


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


# W3C traceparent: version-trace_id-parent_id-flags; a later version may append fields after a dash.
_TRACEPARENT = re.compile(rb"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?", re.DOTALL)
_NO_TRACE = b"0" * 32


Headers = Sequence[tuple[str, bytes | str | None]] | Mapping[str, bytes | str | None]


def traceparent_trace_id(headers: Headers | None) -> str | None:
    """The trace id (32 hex digits) of a W3C ``traceparent`` in Kafka headers; None if there is no valid one."""
    for key, value in headers.items() if isinstance(headers, Mapping) else headers or ():
        if key != "traceparent" or value is None:
            continue
        match = _TRACEPARENT.fullmatch(value.encode() if isinstance(value, str) else value)
        if match is None or match[1] == b"ff" or (match[1] == b"00" and match[5]) or match[2] == _NO_TRACE:
            return None
        return match[2].decode()
    return None


def trace_ids(headers: Sequence[Headers | None]) -> list[str | None] | None:
    """Each event's trace id (see ``traceparent_trace_id``), or None when no event carries one. Without any
    headers nothing is parsed (a producer that traces nothing sends none)."""
    if not any(headers):
        return None
    ids = [traceparent_trace_id(h) for h in headers]
    return ids if any(ids) else None
