"""The promotion processor: champion and challenger predictions joined with late labels, tested sequentially.

It reads ``<stream>.predictions`` (champion), ``<stream>.shadow-predictions`` (challengers) and
``<stream>.labels`` with one confluent-kafka consumer over every partition, joins them by event id
(streams.join: an event is handed out once its label horizon has closed, in event-time order, with its
label or the default class), feeds each (champion, challenger) pair's loss differences to a mixture SPRT
(streams.promotion) and each version's labelled predictions to a performance monitor (windowed by event
time: per-version metrics over time, and concept drift). It emits PROMOTION signals (PROMOTE / HOLD / REJECT
with their evidence), performance signals, and alerts.

Recovery is exact for the statistics: the checkpoint (tests, performance windows, the join's watermarks) is
saved with the next offset processed on each partition; Kafka offsets are committed only up to the oldest
record still waiting in the join. On a restart the waiting entries are rebuilt by re-reading from there;
events closed before the checkpoint are behind the restored watermarks, so they are not counted again.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from confluent_kafka import Message

from schemas.codec import AvroCodec
from schemas.dead_letters import DeadLetterSink
from schemas.registry import SchemaStore, schema_name
from scorecast.settings import Settings
from streams import kafka
from streams.alerts import Alert, AlertRules
from streams.config import ConceptOptions, PromotionOptions
from streams.emit import Emitter
from streams.join import HorizonSettings, Joined, LabelJoin
from streams.performance import ConceptPolicy, PerformanceMonitor
from streams.promotion import PromotionPolicy, PromotionTracker
from streams.references import References
from streams.sequential import SequentialConfig
from streams.signals import Signal, performance_signal, promotion_signal
from streams.windows import Watermark, WindowSpec

log = logging.getLogger(__name__)
KINDS = ("predictions", "shadow-predictions", "labels")


@dataclass
class PromotionStats:
    predictions: int = 0
    labels: int = 0
    pairs: int = 0
    dead_lettered: int = 0
    decisions: dict[str, str] = field(default_factory=dict)  # "champion:challenger" -> last decision
    signals: list[Signal] = field(default_factory=list)  # the last batch's, for callers that watch


def horizon_settings(options: PromotionOptions) -> HorizonSettings:
    return HorizonSettings(
        round(options.horizon_s * 1000),
        options.max_pending,
        options.default_label,
        round(options.label_lateness_s * 1000),
        round(options.prediction_lateness_s * 1000),
    )


def promotion_policy(options: PromotionOptions) -> PromotionPolicy:
    test = SequentialConfig(options.alpha, options.design_n, options.min_pairs, options.margin, options.max_pairs)
    return PromotionPolicy(test, options.loss, options.report_every)


class PromotionWorker:
    def __init__(
        self,
        settings: Settings,
        stream: str,
        model: str,
        options: PromotionOptions,
        concept: ConceptOptions,
        references: References,
        emitter: Emitter,
        schemas: SchemaStore,
        dead_letters: DeadLetterSink,
        client: Any,
    ) -> None:
        self.stream, self.model, self.options, self.concept = stream, model, options, concept
        self._refs = references
        self._emitter = emitter
        self._dead_letters = dead_letters
        self._client = client
        self._topics = {settings.topic(stream, kind): kind for kind in KINDS}
        self._codecs = {t: AvroCodec(schemas, t, schema_name(stream, kind)) for t, kind in self._topics.items()}
        self.join = LabelJoin(horizon_settings(options))
        self.tracker = PromotionTracker(promotion_policy(options))
        self._performance: dict[int, PerformanceMonitor] = {}
        # Versions reach the performance windows when their label horizon closes (the join's horizon, not the
        # concept options' label_horizon_s): a window closes once the join has closed every event before its end.
        self._concept_spec = WindowSpec.tumbling(round(concept.window_s * 1000))
        self._concept_policy = ConceptPolicy(concept.alpha, concept.min_labels, concept.min_degradation)
        self._rules = AlertRules()
        self._labels_topic = settings.topic(stream, "labels")
        # One watermark for every version's performance windows, the join's progress: a version first seen late
        # still has its windows closed, and no window closes before its events have left the join.
        self._label_watermark = Watermark(self._concept_spec)
        self._idle: set[int] = set()  # labels partitions caught up
        self._latest: dict[int, int] = {}  # largest label time per labels partition
        self._alignment = kafka.Alignment(client, self._concept_spec.size_ms)
        self._checkpointed: dict[kafka.TP, int] = {}  # offsets the restored statistics already include
        self._replaying: set[kafka.TP] = set()  # partitions not yet re-read up to them: nothing closes meanwhile
        self._processed: dict[kafka.TP, int] = {}  # next offset processed, per partition
        self.stats = PromotionStats()

    def restore(self, state: dict[str, Any], offsets: dict[kafka.TP, int]) -> None:
        self.tracker.restore(state.get("tracker", {}))
        self.join.restore(state.get("join", {}))
        for version, monitor_state in state.get("performance", {}).items():
            self._monitor(int(version)).restore(monitor_state)
        self._processed = dict(offsets)
        self._checkpointed = dict(offsets)
        self._replaying = {tp for tp, offset in offsets.items() if offset > 0}

    def run(self, stop: threading.Event, idle_exit_s: float | None = None, checkpoint_s: float = 5.0) -> PromotionStats:
        assigned = kafka.assign_all(self._client, list(self._topics))
        self.join.expect([(self._topics[t], p) for t, p in assigned])
        kafka.drive(self._client, self.process, self.checkpoint, stop, idle_exit_s, checkpoint_s)
        return self.stats

    def process(self, messages: list[Message], ends: list[kafka.TP], stop: threading.Event) -> None:
        joined: list[Joined] = []
        batches = kafka.by_topic(messages)
        for topic, kind in self._topics.items():  # the join does not care about the order across topics
            if topic in batches:
                self._join(kind, topic, batches[topic])
        self._dead_letters.flush()
        for topic, batch in batches.items():
            read = batch.next_offsets(topic)
            self._processed.update(read)
            self._replaying -= {tp for tp, offset in read.items() if offset >= self._checkpointed.get(tp, 0)}
        if self._labels_topic in batches:
            self._idle.difference_update(np.unique(batches[self._labels_topic].partitions).tolist())
        idle_now = [p for t, p in ends if t == self._labels_topic]
        self._idle.update(idle_now)
        for topic, partition in ends:
            self.join.idle(self._topics[topic], partition)
        self._replaying -= set(ends)
        if not self._replaying:
            joined.append(self.join.close())
        signals, alerts = self._evaluate(joined)
        self._alignment.update(self._labels_topic, self._latest, self._idle)
        self._emitter.emit(signals, alerts, stop)
        self.stats.signals = signals
        if signals:
            self.checkpoint()

    def _join(self, kind: str, topic: str, batch: kafka.TopicBatch) -> None:
        decode = self._codecs[topic].decode
        records, sources, offsets, fresh = [], [], [], []
        partitions, all_offsets = batch.partitions.tolist(), batch.offsets.tolist()
        for m, partition, offset in zip(batch.messages, partitions, all_offsets, strict=True):
            try:
                record = decode(m.value() or b"")
            except Exception as error:  # undecodable or unknown schema: a dead letter, never a crash
                self._dead_letters.send(m, "undecodable", error)
                self.stats.dead_lettered += 1
                continue
            if kind != "labels" and record.get("model") != self.model:
                continue
            if kind == "predictions" and record.get("variant", "champion") != "champion":
                continue  # canary or treatment traffic: scored on other events, nothing to pair with
            records.append(record)
            sources.append((kind, partition))
            offsets.append(offset)
            fresh.append(offset >= self._checkpointed.get((topic, partition), 0))
        ids = [r["event_id"] for r in records]
        if kind == "labels":
            times = [int(r["label_time"]) for r in records]
            for (_, partition), time_ms in zip(sources, times, strict=True):
                self._latest[partition] = max(self._latest.get(partition, time_ms), time_ms)
            self.stats.labels += len(records)
            self.join.labels(sources, offsets, ids, [int(r["label"]) for r in records], times)
            return
        self.stats.predictions += len(records)
        self.join.predictions(
            sources,
            offsets,
            ids,
            [int(r["version"]) for r in records],
            [float(r["score"]) for r in records],
            [int(r["event_time"]) for r in records],
            kind == "predictions",
            fresh,
        )

    def _evaluate(self, joined: list[Joined]) -> tuple[list[Signal], list[Alert]]:
        signals: list[Signal] = []
        alerts: list[Alert] = []
        now = self._emitter.now_ms()
        for part in joined:
            for version, (scores, labels, times) in part.versions.items():
                self._monitor(version).add(np.asarray(scores), np.asarray(labels), np.asarray(times))
            for (champion, challenger), (a, b, labels, times) in part.pairs.items():
                self.stats.pairs += len(labels)
                for report in self.tracker.add(
                    champion, challenger, np.asarray(a), np.asarray(b), np.asarray(labels), np.asarray(times)
                ):
                    counts = {f"join_{k}": str(v) for k, v in asdict(self.join.counts).items()}
                    signal = promotion_signal(self.model, self.options.loss, report, self.options.alpha, now, counts)
                    signals.append(signal)
                    alerts += self._rules.promotion(self.model, report)
                    self.stats.decisions[f"{champion}:{challenger}"] = report.decision
        closed = self.join.closed_through()
        if closed is not None and not self._replaying:
            self._label_watermark.advance(np.array([closed + 1]))  # every event before closed + 1 has left
        for version, monitor in self._performance.items():
            for window in monitor.close():
                signals.append(performance_signal(self.model, version, window, self.concept.alpha, now))
                alerts += self._rules.concept(self.model, version, window)
        return signals, alerts

    def _monitor(self, version: int) -> PerformanceMonitor:
        if version not in self._performance:
            self._performance[version] = PerformanceMonitor(
                self._concept_spec, self._concept_policy, watermark=self._label_watermark
            )
        return self._performance[version]

    def state(self) -> dict[str, Any]:
        return {
            "tracker": self.tracker.state(),
            "performance": {str(v): m.state() for v, m in self._performance.items()},
            "join": self.join.state(),
            "join_counts": asdict(self.join.counts),  # diagnostics, not restored: a restart recounts what it re-reads
        }

    def checkpoint(self) -> None:
        """Save the statistics with the offsets they cover, then commit the oldest offsets the join still needs."""
        if not self._processed:
            return
        commit_at = dict(self._processed)
        by_kind = {kind: topic for topic, kind in self._topics.items()}
        for (kind, partition), offset in self.join.low_water().items():
            key = (by_kind[kind], partition)
            commit_at[key] = min(commit_at.get(key, offset), offset)
        self._emitter.checkpoint(self.state(), self._processed, commit_at)
