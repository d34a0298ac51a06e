"""The SDK configured from the standard OTEL_* environment, in a fresh interpreter each (providers are global)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.unit

_SPAN = """
from opentelemetry import trace
from scorecast.telemetry import configure, tracing_exported
configure("scorecast-test")
print("exported:", tracing_exported())
with trace.get_tracer("t").start_as_current_span("hello"):
    pass
"""


def _run(script: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_otel_traces_exporter_console_prints_spans_under_otel_service_name() -> None:
    done = _run(_SPAN, OTEL_TRACES_EXPORTER="console", OTEL_SERVICE_NAME="fraud-scorer")
    assert done.returncode == 0, done.stderr
    assert "exported: True" in done.stdout
    assert '"name": "hello"' in done.stdout
    assert '"service.name": "fraud-scorer"' in done.stdout


def test_nothing_is_exported_when_unset_none_or_disabled() -> None:
    for env in ({}, {"OTEL_TRACES_EXPORTER": "none"}, {"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "console"}):
        done = _run(_SPAN, **env)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "exported: False"


def test_an_exporter_that_is_not_installed_is_a_config_error_naming_the_variable() -> None:
    done = _run(_SPAN, OTEL_TRACES_EXPORTER="zipkin-nope")
    assert done.returncode != 0
    assert "ConfigError: OTEL_TRACES_EXPORTER=zipkin-nope" in done.stderr


def test_otlp_exporters_load_from_the_extra() -> None:
    # The endpoint is never reached: nothing is sent before the process exits without spans.
    script = """
    from scorecast.telemetry import configure, tracing_exported
    configure("scorecast-test")
    print("exported:", tracing_exported())
    """
    done = _run(script, OTEL_TRACES_EXPORTER="otlp", OTEL_METRICS_EXPORTER="otlp", OTEL_METRIC_EXPORT_INTERVAL="60000")
    assert done.returncode == 0, done.stderr
    assert "exported: True" in done.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_metrics_port_serves_scorecast_metrics_when_providers_were_set_before_as_opentelemetry_instrument_does() -> (
    None
):
    port = _free_port()
    script = f"""
    import httpx
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    # What opentelemetry-instrument's configurator does before the program's own code runs.
    instrumented = TracerProvider()
    trace.set_tracer_provider(instrumented)
    metrics.set_meter_provider(MeterProvider())
    from scorecast.telemetry import configure
    from scorers.metrics import WorkerMetrics
    configure("scorecast-test", {port})
    assert trace.get_tracer_provider() is instrumented  # kept: its exporters stay in charge of spans
    WorkerMetrics("transactions", "fraud", "champion").written(0.003)
    print(httpx.get("http://127.0.0.1:{port}/metrics", timeout=5).text)
    """
    done = _run(script)
    assert done.returncode == 0, done.stderr
    assert 'scorecast_write_duration_seconds_bucket{alias="champion"' in done.stdout
