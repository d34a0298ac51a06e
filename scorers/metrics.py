"""Scorer metrics (OpenTelemetry instruments, exported to Prometheus by scorecast.telemetry)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry import metrics

if TYPE_CHECKING:
    from scorers.scoring import ScoredBatch

meter = metrics.get_meter("scorecast.scorer")
_events = meter.create_counter("scorecast_events_scored", unit="1", description="events scored")
_dead = meter.create_counter("scorecast_dead_letters", unit="1", description="events sent to the dead-letter topic")
_batch = meter.create_histogram("scorecast_batch_size", unit="1", description="events per micro-batch")
_score_s = meter.create_histogram("scorecast_scoring_seconds", unit="s", description="decode + score per batch")
_write_s = meter.create_histogram("scorecast_write_seconds", unit="s", description="Cassandra + Kafka writes per batch")
_lag = meter.create_gauge("scorecast_consumer_lag", unit="1", description="messages behind the log end, per partition")
_serving = meter.create_gauge(
    "scorecast_serving_version", unit="1", description="the model version scoring a single-valued alias now"
)
_quarantined = meter.create_counter(
    "scorecast_versions_quarantined",
    unit="1",
    description="versions a worker took out of service: failed on a live batch (at=run) or not loadable at start",
)


class WorkerMetrics:
    def __init__(self, stream: str, model: str, alias: str) -> None:
        self._labels = {"stream": stream, "model": model, "alias": alias}
        self._serving: tuple[int, ...] = ()

    def scored(self, received: int, seconds: float, batch: ScoredBatch) -> None:
        versions = ",".join(str(r.rows.version) for r in batch.results)
        labels = {**self._labels, "version": versions}
        _batch.record(received, labels)
        _score_s.record(seconds, labels)
        _events.add(len(batch.events), labels)
        if batch.rejects:
            _dead.add(len(batch.rejects), labels)

    def written(self, seconds: float) -> None:
        _write_s.record(seconds, self._labels)

    def lag(self, partition: int, behind: int) -> None:
        _lag.set(behind, {**self._labels, "partition": str(partition)})

    def serving(self, versions: tuple[int, ...]) -> None:
        """The versions that scored the last batch; the gauge is set on a change (one version per alias)."""
        if versions != self._serving:
            self._serving = versions
            if len(versions) == 1:
                _serving.set(versions[0], self._labels)

    def quarantined(self, version: int, at: str) -> None:
        _quarantined.add(1, {**self._labels, "version": str(version), "at": at})

    def refused_by_sinks(self, events: int) -> None:
        """Events dead-lettered because a sink refused their prediction (as opposed to undecodable ones)."""
        _dead.add(events, {**self._labels, "reason": "sink-rejected"})
