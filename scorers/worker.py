"""The scorer agent: a micro-batch of events is scored once, then delivered, and only then committed.

Delivery (scorers.outputs) is Cassandra writes acknowledged → predictions and dead letters acknowledged by
Kafka; the shared BatchConsumer retries it until it succeeds and commits offsets only after, in batch order. It
runs on the consumer's delivery thread while the next batch is consumed and scored (``overlap``, on unless
``SCORECAST_WORKER_OVERLAP_WRITES`` is off): ``handle`` and ``deliver`` share only thread-safe parts (metrics,
the Cassandra session), and one batch is delivered at a time. SIGTERM finishes the batch being written, commits
it and leaves the group (a batch still waiting out an outage is abandoned uncommitted).
Models are read once per batch, so a hot reload never splits a batch between versions. A version that fails on
a batch is quarantined and the batch rescored with one that works (scorers.quarantine), so one broken version
never stops scoring.
"""

from __future__ import annotations

import itertools
import os
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from confluent_kafka import Message
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from schemas.batch import EventBatchDecoder
from schemas.registry import open_store as open_schema_store
from schemas.rules import EventRules
from scorecast.batch_consumer import BatchConsumer, ConsumerConfig, Deliver
from scorecast.io.cassandra import open_cassandra
from scorecast.settings import Settings
from scorecast.telemetry import extract_context, tracing_exported
from scorers.artifacts import open_store as open_artifact_store
from scorers.hot_reload import follow
from scorers.metrics import WorkerMetrics
from scorers.outputs import BatchOutputs, Delivery
from scorers.prediction_sink import PredictionSink, prediction_sink
from scorers.quarantine import GuardedModel, VersionGuard
from scorers.quarantine_notice import QuarantineReport
from scorers.registry import Registry
from scorers.runtime import probe_sizes
from scorers.scoring import ScoredBatch, ScoringCore

tracer = trace.get_tracer("scorecast.scorer")
_MAX_LINKS = 128  # the SDK's default span link limit (OTEL_SPAN_LINK_COUNT_LIMIT)


@dataclass(frozen=True)
class WorkerConfig:
    stream: str
    model: str
    alias: str = "champion"
    source: str = "events"  # topic kind consumed: events (champion) or shadow (challengers)
    sink: str = "predictions"  # topic kind predictions are produced to
    group_id: str | None = None  # default: scorecast.<stream>.<source>.<model>.<alias>
    batch_max: int = 2000
    instance_id: str | None = None  # static group membership (e.g. the pod name of a StatefulSet)

    @property
    def group(self) -> str:
        return self.group_id or f"scorecast.{self.stream}.{self.source}.{self.model}.{self.alias}"


@dataclass
class WorkerStats:
    batches: int = 0
    scored: int = 0
    dead_lettered: int = 0
    retries: int = 0
    partitions: set[int] = field(default_factory=set)
    quarantined: list[int] = field(default_factory=list)  # versions this worker took out of service


class BatchScorer:
    """What a scorer does with one micro-batch, whoever consumes it: score it once and return its ``deliver``
    step. ``ScorerWorker`` drives it with a ``BatchConsumer``; a faust agent drives the same object
    (scorers.faust_agent), so both write the same rows and dead letters."""

    def __init__(
        self,
        settings: Settings,
        config: WorkerConfig,
        core: ScoringCore,
        guard: VersionGuard,
        outputs: BatchOutputs,
        metrics: WorkerMetrics,
    ) -> None:
        self.config = config
        self.metrics = metrics
        self._core = core
        self._guard = guard
        metrics.serving(self.serving())  # visible before the first batch (a fallback at start, say)
        self._outputs = outputs
        self._topic = settings.topic(config.stream, config.source)
        self._span_attributes = {
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.destination.name": self._topic,
            "messaging.consumer.group.name": config.group,
        }
        self.stats = WorkerStats()

    def serving(self) -> tuple[int, ...]:
        """The versions that score the next batch."""
        return tuple(m.version for m in self._guard.serving())

    def handle(self, messages: list[Message]) -> Deliver:
        # OTel messaging conventions for a batch: one process span that links each event's context (up to the
        # SDK's link limit); contexts are only read when spans are exported, so untraced scoring pays nothing.
        links = _event_links(messages) if tracing_exported() else None
        with tracer.start_as_current_span(
            f"process {self._topic}", kind=SpanKind.CONSUMER, links=links, attributes=self._span_attributes
        ) as span:
            span.set_attribute("messaging.batch.message_count", len(messages))
            values = [m.value() for m in messages]

            def score(models: Sequence[GuardedModel]) -> ScoredBatch:
                return self._core.score(values, models, variant=self.config.alias)

            started = time.perf_counter()
            # The serving versions are read once for the whole batch; a failing one is replaced and the batch
            # rescored before anything is delivered.
            scored, models = self._guard.score(score)
            self.metrics.scored(len(messages), time.perf_counter() - started, scored)
            self.metrics.serving(tuple(m.version for m in models))
        self.stats.quarantined = list(self._guard.quarantined)
        self.stats.scored += len(scored.events)
        self.stats.dead_lettered += len(scored.rejects)
        delivery = Delivery()
        batch_context = trace.set_span_in_context(span)

        def deliver() -> None:
            with tracer.start_as_current_span("scorecast.write", context=batch_context):  # same trace as the batch
                try:
                    self._outputs.deliver(scored, messages, delivery)
                except Exception as error:
                    self.metrics.delivery_failed(error)
                    raise

        return deliver

    def close(self) -> WorkerStats:
        """Flush the outputs; the stats count the events a sink refused as dead letters, not as scored."""
        self._outputs.close()
        self.stats.quarantined = list(self._guard.quarantined)  # refusals are also reported between batches
        self.stats.scored -= self._outputs.sink_rejected
        self.stats.dead_lettered += self._outputs.sink_rejected
        self._outputs.sink_rejected = 0  # counted once, should close be called again
        return self.stats


class ScorerWorker:
    def __init__(self, settings: Settings, config: WorkerConfig, scorer: BatchScorer) -> None:
        self.config = config
        self._scorer = scorer
        self._consumer = BatchConsumer(
            settings,
            ConsumerConfig(
                group=config.group,
                topics=(settings.topic(config.stream, config.source),),
                batch_max=config.batch_max,
                instance_id=config.instance_id,
                overlap=settings.worker_overlap_writes,
            ),
            on_lag=scorer.metrics.lag,
        )

    @property
    def stats(self) -> WorkerStats:
        return self._scorer.stats

    def run(self, stop: threading.Event, idle_exit_s: float | None = None) -> WorkerStats:
        """Score until ``stop`` is set, or until partitions were held and nothing arrived for ``idle_exit_s``."""
        try:
            consumed = self._consumer.run(self._scorer.handle, stop, idle_exit_s)
        finally:
            stats = self._scorer.close()
        stats.batches = consumed.batches
        stats.retries = consumed.retries
        stats.partitions = consumed.partitions
        return stats

    def serving(self) -> tuple[int, ...]:
        """The versions that score the next batch."""
        return self._scorer.serving()


def _event_links(messages: Sequence[Message]) -> list[trace.Link]:
    contexts = (trace.get_current_span(extract_context(m.headers())).get_span_context() for m in messages)
    return [trace.Link(c) for c in itertools.islice((c for c in contexts if c.is_valid), _MAX_LINKS)]


@contextmanager
def scorer_worker(
    settings: Settings, config: WorkerConfig, stop: threading.Event | None = None
) -> Iterator[ScorerWorker]:
    """A worker wired from settings: registry, alias watcher (hot reload), decoder, sinks. Closes them all.
    ``stop`` (the one later given to ``run``) also ends a batch's wait for an unreachable schema registry."""
    with batch_scorer(settings, config, stop) as scorer:
        yield ScorerWorker(settings, config, scorer)


@contextmanager
def batch_scorer(
    settings: Settings, config: WorkerConfig, stop: threading.Event | None = None
) -> Iterator[BatchScorer]:
    """A batch scorer wired from settings: registry, alias watcher (hot reload), decoder, sinks. Closes them all."""
    session = open_cassandra(settings)
    try:
        registry = Registry(session, open_artifact_store(settings))
        watcher = follow(
            registry,
            settings,
            config.model,
            aliases=(config.alias,),
            stream=config.stream,
            probe_sizes=probe_sizes(config.batch_max),
        )
        watcher.start()  # falls back to an earlier version, or raises one line if no version can serve
        report: QuarantineReport | None = None
        sink: PredictionSink | None = None
        try:
            store = open_schema_store(settings, stop)
            source_topic = settings.topic(config.stream, config.source)
            metrics = WorkerMetrics(config.stream, config.model, config.alias)
            actor = f"scorer {config.instance_id or socket.gethostname()}:{os.getpid()} ({config.group})"
            report = QuarantineReport(settings, config.stream, registry, session, store, metrics, actor)
            guard = VersionGuard(watcher, config.alias, report)  # says at once what start refused
            sink = prediction_sink(settings, session)
            outputs = BatchOutputs(
                settings,
                store,
                config.stream,
                config.sink,
                sink,
                consumer_name=config.group,
                metrics=metrics,
            )
            core = ScoringCore(EventBatchDecoder(store, config.stream, source_topic, EventRules.of(settings)))
            yield BatchScorer(settings, config, core, guard, outputs, metrics)
        finally:
            watcher.stop()
            if sink is not None:
                sink.close()
            if report is not None:
                report.close()
    finally:
        session.cluster.shutdown()
