"""The scorer's metrics as Prometheus scrapes them: per-version series, reasons, error kinds, bounded labels."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from prometheus_client.parser import text_string_to_metric_families

from scorecast.errors import ConfigError, PermanentError, RetryableError, ServiceUnavailableError
from scorers.metrics import error_kind
from tests.unit.telemetry.test_configure import _free_port

pytestmark = pytest.mark.unit

# A fresh interpreter: scorecast's meter provider is bound once per process.
_SCRIPT = """
from types import SimpleNamespace as NS
import httpx
from scorecast.errors import PermanentError, ServiceUnavailableError
from scorecast.telemetry import configure
from scorers.metrics import WorkerMetrics

configure("scorecast-test", {port})
metrics = WorkerMetrics("transactions", "fraud", "challenger")
rows = lambda version, n: NS(rows=NS(version=version, event_ids=["e"] * n), latency_s=0.002)
rejects = [NS(reason="undecodable"), NS(reason="undecodable"), NS(reason="non-finite-feature")]
metrics.scored(10, 0.004, NS(results=[rows(2, 7), rows(3, 7)], rejects=rejects))
metrics.delivery_failed(ServiceUnavailableError("Cassandra", "SCORECAST_CASSANDRA_HOSTS", "timed out"))
metrics.delivery_failed(ServiceUnavailableError("Cassandra", "SCORECAST_CASSANDRA_HOSTS", "timed out"))
metrics.delivery_failed(PermanentError("row too large"))
metrics.delivery_failed(OSError("boom"))
metrics.refused_by_sinks(1)
metrics.written(0.012)
metrics.serving((2, 3))
metrics.serving((3,))
from scorers.metrics import placement_loaded
from scorers.placement import Placement
ran = Placement({{"CUDAExecutionProvider": 9, "CPUExecutionProvider": 1}})
placement_loaded("fraud", 3, "CUDAExecutionProvider", ran)
print(httpx.get("http://127.0.0.1:{port}/metrics", timeout=5).text)
"""


def _series() -> dict[str, list[tuple[dict[str, str], float]]]:
    port = _free_port()
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_SCRIPT.format(port=port))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    series: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(done.stdout):
        for sample in family.samples:
            labels = {k: v for k, v in sample.labels.items() if not k.startswith("otel_scope")}
            series.setdefault(sample.name, []).append((labels, sample.value))
    return series


def _by(series: list[tuple[dict[str, str], float]], label: str) -> dict[str, float]:
    return {labels[label]: value for labels, value in series}


def test_the_scorer_exports_prometheus_fit_series() -> None:
    series = _series()
    assert _by(series["scorecast_events_scored_total"], "version") == {"2": 7.0, "3": 7.0}  # one series a version
    assert _by(series["scorecast_dead_letters_total"], "reason") == {
        "undecodable": 2.0,
        "non-finite-feature": 1.0,
        "sink-rejected": 1.0,
    }
    assert _by(series["scorecast_records_rejected_total"], "stage") == {"scoring": 3.0, "sink": 1.0}
    assert _by(series["scorecast_delivery_errors_total"], "kind") == {
        "retryable": 2.0,
        "permanent": 1.0,
        "unknown": 1.0,
    }
    assert _by(series["scorecast_delivery_retries_total"], "kind") == {"retryable": 2.0, "unknown": 1.0}
    buckets = [float(labels["le"]) for labels, _ in series["scorecast_write_duration_seconds_bucket"]]
    assert buckets[0] == 0.0005
    assert buckets[-2:] == [10.0, float("inf")]
    assert _by(series["scorecast_inference_duration_seconds_count"], "version") == {"2": 1.0, "3": 1.0}
    assert _by(series["scorecast_model_version_serving"], "version") == {"2": 0.0, "3": 1.0}
    assert _by(series["scorecast_serving_version"], "alias") == {"challenger": 3.0}
    assert _by(series["scorecast_model_node_share"], "provider") == {
        "CUDAExecutionProvider": 0.9,
        "CPUExecutionProvider": 0.1,
    }
    labels = {key for samples in series.values() for labels, _ in samples for key in labels}
    scorer_labels = {"stream", "model", "alias", "version", "reason", "stage", "kind", "le", "partition", "at"}
    scorer_labels |= {"provider"}
    assert labels - scorer_labels <= {
        "service_name",
        "service_instance_id",
        "telemetry_sdk_language",
        "telemetry_sdk_name",
        "telemetry_sdk_version",
        "generation",  # process and GC metrics of prometheus_client
        "implementation",
        "major",
        "minor",
        "patchlevel",
        "version",
    }


def test_error_kinds_follow_the_error_hierarchy() -> None:
    assert error_kind(ServiceUnavailableError("Kafka", "SCORECAST_KAFKA_BOOTSTRAP", "down")) == "retryable"
    assert error_kind(RetryableError("timeout")) == "retryable"
    assert error_kind(PermanentError("too large")) == "permanent"
    assert error_kind(ConfigError("no such model")) == "config"
    assert error_kind(ValueError("untranslated")) == "unknown"
