"""Scorer metrics (OpenTelemetry instruments, exported to Prometheus by scorecast.telemetry).

Names follow Prometheus conventions once exported: counters end in ``_total``, durations are histograms in
seconds (``_seconds``) with buckets from 0.5 ms to 10 s, so quantiles can be computed. Labels are bounded:
stream, model, alias, a model version, a partition, and codes from fixed sets (dead-letter reasons, error
kinds) — never an entity id, an event id or a message text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scorecast.errors import ConfigError, PermanentError, RetryableError, ScorecastError
from scorecast.telemetry import LATENCY_BUCKETS_S, get_meter

if TYPE_CHECKING:
    from scorers.placement import Placement
    from scorers.scoring import ScoredBatch

# Events per micro-batch: up to the largest batch_max a deployment would set.
BATCH_SIZE_BUCKETS = (1.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0, 20000.0)

meter = get_meter("scorecast.scorer")
_events = meter.create_counter(
    "scorecast_events_scored", unit="{event}", description="events scored, per model version"
)
_dead = meter.create_counter(
    "scorecast_dead_letters", unit="{event}", description="events sent to the dead-letter topic, by reason"
)
_rejected = meter.create_counter(
    "scorecast_records_rejected",
    unit="{event}",
    description="records refused by scoring (undecodable, invalid, non-finite: stage=scoring) or a sink (stage=sink)",
)
_errors = meter.create_counter(
    "scorecast_delivery_errors",
    unit="{error}",
    description="failed deliveries of a batch by error kind: retryable, permanent, config, unknown (retried)",
)
_retries = meter.create_counter(
    "scorecast_delivery_retries", unit="{retry}", description="batch deliveries retried, by error kind"
)
_batch = meter.create_histogram(
    "scorecast_batch_size",
    unit="{event}",
    description="events per micro-batch",
    explicit_bucket_boundaries_advisory=BATCH_SIZE_BUCKETS,
)
_score_s = meter.create_histogram(
    "scorecast_scoring_duration",
    unit="s",
    description="decode + score of one micro-batch, all serving versions",
    explicit_bucket_boundaries_advisory=LATENCY_BUCKETS_S,
)
_inference_s = meter.create_histogram(
    "scorecast_inference_duration",
    unit="s",
    description="one model version's inference on one micro-batch",
    explicit_bucket_boundaries_advisory=LATENCY_BUCKETS_S,
)
_write_s = meter.create_histogram(
    "scorecast_write_duration",
    unit="s",
    description="Cassandra + Kafka writes of one micro-batch, until acknowledged",
    explicit_bucket_boundaries_advisory=LATENCY_BUCKETS_S,
)
_lag = meter.create_gauge("scorecast_consumer_lag", unit="{message}", description="messages behind the log end")
_serving = meter.create_gauge(
    "scorecast_serving_version", unit="1", description="the model version scoring a single-valued alias now"
)
_version_serving = meter.create_gauge(
    "scorecast_model_version_serving",
    unit="1",
    description="1 while a version scores for the alias (each challenger of a multi-valued alias too), 0 after",
)
_quarantined = meter.create_counter(
    "scorecast_versions_quarantined",
    unit="1",
    description="versions a worker took out of service: failed on a live batch (at=run) or not loadable at start",
)

_placement = meter.create_gauge(
    "scorecast_model_node_share",
    unit="1",
    description="share of a loaded version's nodes that ran on each execution provider (profiled at load)",
)


def placement_loaded(model: str, version: int, provider: str, placement: Placement) -> None:
    """Where a loaded version's nodes run: one series per provider it ran on and per the session's provider
    (a CUDA session whose nodes all fell to the CPU shows CUDA at 0)."""
    for name in sorted(set(placement.nodes) | {provider}):
        _placement.set(placement.share(name), {"model": model, "version": str(version), "provider": name})


def error_kind(error: BaseException) -> str:
    """The error's class in scorecast.errors, as a label value: what the consumer does with it."""
    if isinstance(error, PermanentError):
        return "permanent"
    if isinstance(error, ConfigError):
        return "config"
    if isinstance(error, RetryableError):
        return "retryable"
    # Not translated at the transport boundary: retried like a retryable one, counted apart to find it.
    return "unknown" if not isinstance(error, ScorecastError) else "other"


class WorkerMetrics:
    def __init__(self, stream: str, model: str, alias: str) -> None:
        self._labels = {"stream": stream, "model": model, "alias": alias}
        self._serving: tuple[int, ...] = ()

    def scored(self, received: int, seconds: float, batch: ScoredBatch) -> None:
        """One scored micro-batch: per-version series for every version that scored it (champion, challengers)."""
        labels = self._labels
        _batch.record(received, labels)
        _score_s.record(seconds, labels)
        for result in batch.results:
            version = {**labels, "version": str(result.rows.version)}
            _events.add(len(result.rows.event_ids), version)
            _inference_s.record(result.latency_s, version)
        if batch.rejects:
            reasons: dict[str, int] = {}
            for reject in batch.rejects:
                reasons[reject.reason] = reasons.get(reject.reason, 0) + 1
            for reason, count in reasons.items():
                _dead.add(count, {**labels, "reason": reason})
            _rejected.add(len(batch.rejects), {**labels, "stage": "scoring"})

    def written(self, seconds: float) -> None:
        _write_s.record(seconds, self._labels)

    def delivery_failed(self, error: BaseException) -> None:
        """A batch delivery raised: counted by kind; every kind but permanent and config is retried."""
        kind = error_kind(error)
        _errors.add(1, {**self._labels, "kind": kind})
        if kind not in ("permanent", "config"):
            _retries.add(1, {**self._labels, "kind": kind})

    def lag(self, partition: int, behind: int) -> None:
        _lag.set(behind, {**self._labels, "partition": str(partition)})

    def serving(self, versions: tuple[int, ...]) -> None:
        """The versions that scored the last batch, set on a change: the version of a single-valued alias, and a
        0/1 series per version (challengers)."""
        if versions != self._serving:
            for stopped in set(self._serving) - set(versions):
                _version_serving.set(0, {**self._labels, "version": str(stopped)})
            for version in versions:
                _version_serving.set(1, {**self._labels, "version": str(version)})
            self._serving = versions
            if len(versions) == 1:
                _serving.set(versions[0], self._labels)

    def quarantined(self, version: int, at: str) -> None:
        _quarantined.add(1, {**self._labels, "version": str(version), "at": at})

    def refused_by_sinks(self, events: int) -> None:
        """Events dead-lettered because a sink refused their prediction (as opposed to undecodable ones)."""
        _dead.add(events, {**self._labels, "reason": "sink-rejected"})
        _rejected.add(events, {**self._labels, "stage": "sink"})
