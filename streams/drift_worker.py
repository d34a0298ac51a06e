"""The drift processor: events and champion predictions in, drift signals and alerts out.

It reads ``<stream>.events`` (features, decoded vectorised by schemas.batch) and ``<stream>.predictions``
(scores) with one confluent-kafka consumer over every partition, windows both by event time against the
champion's reference profile, and emits a signal per column per closed window. The champion is re-read from
the registry while running; when it changes, the old version's open windows are reported as they are and new
ones start against the new reference.

State is in memory and bounded (streams.windows). Recovery: offsets are committed only up to the oldest event
still in an open window, after the signals of closed windows are acknowledged and the ends of the windows
already reported are checkpointed; a restart re-reads at most one window (plus lateness) of events and
reports no window twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from confluent_kafka import Message

from schemas.batch import EventBatchDecoder
from schemas.codec import AvroCodec
from schemas.dead_letters import DeadLetterSink
from schemas.registry import SchemaStore, schema_name
from schemas.rules import EventRules
from scorecast.settings import Settings
from streams import kafka
from streams.alerts import Alert, AlertRules
from streams.config import DriftOptions
from streams.drift import DriftMonitor, DriftPolicy, WindowReport
from streams.emit import Emitter
from streams.references import References
from streams.signals import Signal, drift_signals
from streams.summary import Layout
from streams.windows import WindowSpec

log = logging.getLogger(__name__)


@dataclass
class DriftStats:
    events: int = 0
    scores: int = 0
    windows: int = 0
    alarms: int = 0
    dead_lettered: int = 0
    signals: list[Signal] = field(default_factory=list)  # the last batch's, for callers that watch


def window_spec(options: DriftOptions) -> WindowSpec:
    size = round(options.window_s * 1000)
    slide = round((options.slide_s or options.window_s) * 1000)
    return WindowSpec(size, slide, round(options.lateness_s * 1000))


def policy(options: DriftOptions) -> DriftPolicy:
    return DriftPolicy(options.alpha, options.min_events, options.min_psi, options.psi_moderate, options.psi_major)


class DriftWorker:
    def __init__(
        self,
        settings: Settings,
        stream: str,
        model: str,
        options: DriftOptions,
        references: References,
        emitter: Emitter,
        schemas: SchemaStore,
        dead_letters: DeadLetterSink,
        client: Any,
    ) -> None:
        self.stream, self.model, self.options = stream, model, options
        self._refs = references
        self._emitter = emitter
        self._dead_letters = dead_letters
        self._client = client
        self._events_topic = settings.topic(stream, "events")
        self._predictions_topic = settings.topic(stream, "predictions")
        self._decoder = EventBatchDecoder(schemas, stream, self._events_topic, EventRules.of(settings))
        self._predictions = AvroCodec(schemas, self._predictions_topic, schema_name(stream, "predictions"))
        self._spec, self._policy = window_spec(options), policy(options)
        self._rules = AlertRules()
        self._features: tuple[int, DriftMonitor | None] | None = None  # None: that version has no profile
        self._scores: dict[int, DriftMonitor | None] = {}  # None: that version has no score profile
        self._resume: dict[str, Any] = {}
        self._processed: dict[kafka.TP, int] = {}
        self._assigned: dict[str, list[int]] = {}
        self._idle: dict[str, set[int]] = {}  # partitions caught up, per topic
        self._latest: dict[str, dict[int, int]] = {}  # largest event time per topic partition
        self._alignment = kafka.Alignment(client, self._spec.size_ms)
        self.stats = DriftStats()

    def restore(self, state: dict[str, Any]) -> None:
        """Windows already reported before a restart (from the checkpoint)."""
        self._resume = state

    def run(self, stop: threading.Event, idle_exit_s: float | None = None, checkpoint_s: float = 5.0) -> DriftStats:
        for topic, partition in kafka.assign_all(self._client, [self._events_topic, self._predictions_topic]):
            self._assigned.setdefault(topic, []).append(partition)
        kafka.drive(self._client, self.process, self.checkpoint, stop, idle_exit_s, checkpoint_s)
        return self.stats

    def process(self, messages: list[Message], ends: list[kafka.TP], stop: threading.Event) -> None:
        batches = kafka.by_topic(messages)
        for topic, batch in batches.items():
            self._processed.update(batch.next_offsets(topic))
            self._idle.setdefault(topic, set()).difference_update(np.unique(batch.partitions).tolist())
        reports: list[tuple[int, str, WindowReport]] = []
        if self._events_topic in batches:
            reports += self._add_events(batches[self._events_topic])
        if self._predictions_topic in batches:
            reports += self._add_scores(batches[self._predictions_topic])
        for topic, partition in ends:
            self._idle.setdefault(topic, set()).add(partition)
            for source, version, monitor in self.monitors():
                if topic == self._topic_of(source):
                    reports += [(version, source, r) for r in monitor.idle(partition)]
        self._dead_letters.flush()
        for topic, latest in self._latest.items():
            self._alignment.update(topic, latest, self._idle.get(topic, set()))
        self._publish(reports, stop)

    def finish(self, stop: threading.Event) -> DriftStats:
        """A finite stream has ended (a demo, a backtest): report every window still open, as it is."""
        reports = [(version, source, r) for source, version, monitor in self.monitors() for r in monitor.close_all()]
        self._publish(reports, stop)
        return self.stats

    def _publish(self, reports: list[tuple[int, str, WindowReport]], stop: threading.Event) -> None:
        signals: list[Signal] = []
        alerts: list[Alert] = []
        now = self._emitter.now_ms()
        for version, source, report in reports:
            signals += drift_signals(self.model, version, source, report, self._policy, now)
            alerts += self._rules.drift(self.model, version, source, report)
            self.stats.windows += 1
            self.stats.alarms += report.alarm
        self._emitter.emit(signals, alerts, stop)
        self.stats.signals = signals
        if signals:
            self.checkpoint()

    def _topic_of(self, source: str) -> str:
        return self._events_topic if source == "features" else self._predictions_topic

    def _note_times(self, topic: str, partitions: np.ndarray, times: np.ndarray) -> None:
        latest = self._latest.setdefault(topic, {})
        for partition in np.unique(partitions).tolist():
            newest = int(times[partitions == partition].max())
            latest[partition] = max(latest.get(partition, newest), newest)

    def _add_events(self, batch: kafka.TopicBatch) -> list[tuple[int, str, WindowReport]]:
        messages = batch.messages
        decoded = self._decoder.decode([m.value() for m in messages])
        if decoded.failures:
            self._dead_letters.send_failures(messages, decoded.failures)
            self.stats.dead_lettered += len(decoded.failures)
        reports: list[tuple[int, str, WindowReport]] = []
        champion = self._refs.champion()
        if champion is None:
            log.warning("no champion for %s: %d events not compared", self.model, len(decoded))
            return reports
        if self._features is None or self._features[0] != champion:
            if self._features is not None and self._features[1] is not None:
                # The champion changed: report the old version's windows as they are.
                reports += [(self._features[0], "features", r) for r in self._features[1].close_all()]
            self._features = (champion, self._monitor(champion, "features"))
        monitor = self._features[1]
        if monitor is None:
            return reports
        partitions, offsets = batch.partitions[decoded.positions], batch.offsets[decoded.positions]
        self._note_times(self._events_topic, partitions, decoded.event_times)
        reports += [
            (champion, "features", r) for r in monitor.add(decoded.features, decoded.event_times, partitions, offsets)
        ]
        self.stats.events += len(decoded)
        return reports

    def _add_scores(self, batch: kafka.TopicBatch) -> list[tuple[int, str, WindowReport]]:
        by_version: dict[int, tuple[list[float], list[int], list[int]]] = {}  # scores, times, batch positions
        for i, m in enumerate(batch.messages):
            try:
                record = self._predictions.decode(m.value() or b"")
            except Exception as error:  # undecodable or unknown schema: a dead letter, never a crash
                self._dead_letters.send(m, "undecodable", error)
                self.stats.dead_lettered += 1
                continue
            if record.get("model") != self.model or record.get("variant", "champion") != "champion":
                continue
            scores, times, positions = by_version.setdefault(int(record["version"]), ([], [], []))
            scores.append(float(record["score"]))
            times.append(int(record["event_time"]))
            positions.append(i)
        reports: list[tuple[int, str, WindowReport]] = []
        for version, (scores, times, positions) in by_version.items():
            if version not in self._scores:
                self._scores[version] = self._monitor(version, "score") if self.options.score else None
            monitor = self._scores[version]
            if monitor is None:
                continue
            rows = np.asarray(scores, dtype=np.float64)[:, None]
            parts, when = batch.partitions[positions], np.asarray(times, dtype=np.int64)
            self._note_times(self._predictions_topic, parts, when)
            found = monitor.add(rows, when, parts, batch.offsets[positions])
            reports += [(version, "score", r) for r in found]
            self.stats.scores += len(scores)
        return reports

    def _monitor(self, version: int, source: str) -> DriftMonitor | None:
        profile = self._refs.profile(version)
        if profile is None or (source == "score" and profile.score is None):
            log.warning(
                "%s v%d has no reference %s profile: its %s drift is not watched", self.model, version, source, source
            )
            return None
        if profile.score is not None and source == "score":
            layout = Layout.of_score(profile.score)
        else:
            layout = Layout.of_features(self._refs.spec(version), profile, self.options.features)
        resumed = self._resume.get(f"{source}:{version}")
        monitor = DriftMonitor(layout, self._spec, self._policy, emitted_through_ms=resumed)
        topic = self._topic_of(source)
        watermark = monitor.store.watermark
        watermark.expect(self._assigned.get(topic, []))  # every partition must speak (or be caught up) first
        for partition in self._idle.get(topic, set()):
            watermark.mark_idle(partition)
        return monitor

    def monitors(self) -> Iterator[tuple[str, int, DriftMonitor]]:
        if self._features is not None and self._features[1] is not None:
            yield "features", self._features[0], self._features[1]
        for version, monitor in self._scores.items():
            if monitor is not None:
                yield "score", version, monitor

    def checkpoint(self) -> None:
        """Checkpoint what was reported, then commit the oldest offsets open windows still need."""
        state = dict(self._resume)
        commit_at = dict(self._processed)
        for source, version, monitor in self.monitors():
            if monitor.store.emitted_through_ms is not None:
                state[f"{source}:{version}"] = monitor.store.emitted_through_ms
            topic = self._events_topic if source == "features" else self._predictions_topic
            for partition, offset in monitor.commit_offsets().items():
                key = (topic, partition)
                commit_at[key] = min(commit_at.get(key, offset), offset)
        if commit_at:
            self._emitter.checkpoint(state, self._processed, commit_at)
