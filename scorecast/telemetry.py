"""OpenTelemetry for every process: one tracer and meter provider, metrics served to Prometheus.

Kafka carries W3C trace context in message headers; ``extract_context`` reads it back so a consumer's spans
link to the producer's trace. Span export is the deployment's choice: add a span processor to the provider
(``trace.get_tracer_provider().add_span_processor(...)``, e.g. an OTLP exporter); without one, spans are
created and dropped at negligible cost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from opentelemetry import metrics, propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider


def configure(service_name: str, metrics_port: int | None = None) -> None:
    """Install the SDK providers once per process; serve /metrics on ``metrics_port`` if given."""
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
    trace.set_tracer_provider(TracerProvider(resource=resource))


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
