"""The scorer agent: a micro-batch of events is scored once, then delivered, and only then committed.

Delivery (scorers.outputs) is Cassandra writes acknowledged → predictions and dead letters acknowledged by
Kafka; the shared BatchConsumer retries it until it succeeds and commits offsets only after. SIGTERM finishes
the batch in hand, commits it and leaves the group. Models are read once per batch, so a hot reload never
splits a batch between versions.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from confluent_kafka import Message
from opentelemetry import trace

from schemas.batch import EventBatchDecoder
from schemas.registry import open_store as open_schema_store
from scorecast.batch_consumer import BatchConsumer, ConsumerConfig, Deliver
from scorecast.cassandra import connect
from scorecast.settings import Settings
from scorecast.telemetry import extract_context
from scorers.artifacts import open_store as open_artifact_store
from scorers.hot_reload import follow
from scorers.metrics import WorkerMetrics
from scorers.outputs import BatchOutputs, Delivery
from scorers.prediction_sink import PredictionWriter
from scorers.registry import Registry
from scorers.scoring import Model, ScoringCore

tracer = trace.get_tracer("scorecast.scorer")
_MAX_LINKS = 32


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


class ScorerWorker:
    def __init__(
        self,
        settings: Settings,
        config: WorkerConfig,
        core: ScoringCore,
        models: Callable[[], Sequence[Model]],
        outputs: BatchOutputs,
        metrics: WorkerMetrics,
    ) -> None:
        self.config = config
        self._core = core
        self._models = models
        self._outputs = outputs
        self._metrics = metrics
        self.stats = WorkerStats()
        self._consumer = BatchConsumer(
            settings,
            ConsumerConfig(
                group=config.group,
                topics=(settings.topic(config.stream, config.source),),
                batch_max=config.batch_max,
                instance_id=config.instance_id,
            ),
            on_lag=metrics.lag,
        )

    def run(self, stop: threading.Event, idle_exit_s: float | None = None) -> WorkerStats:
        """Score until ``stop`` is set, or until partitions were held and nothing arrived for ``idle_exit_s``."""
        try:
            consumed = self._consumer.run(self._handle, stop, idle_exit_s)
        finally:
            self._outputs.close()
        self.stats.batches = consumed.batches
        self.stats.retries = consumed.retries
        self.stats.partitions = consumed.partitions
        return self.stats

    def _handle(self, messages: list[Message]) -> Deliver:
        contexts = (extract_context(m.headers()) for m in messages[:_MAX_LINKS])
        links = [trace.Link(trace.get_current_span(c).get_span_context()) for c in contexts]
        with tracer.start_as_current_span("scorecast.score", links=links) as span:
            span.set_attribute("messaging.batch.message_count", len(messages))
            models = self._models()  # the serving versions for this whole batch: a swap never splits a batch
            started = time.perf_counter()
            scored = self._core.score([m.value() for m in messages], models, variant=self.config.alias)
            self._metrics.scored(len(messages), time.perf_counter() - started, scored)
        self.stats.scored += len(scored.events)
        self.stats.dead_lettered += len(scored.rejects)
        delivery = Delivery()

        def deliver() -> None:
            with tracer.start_as_current_span("scorecast.write", links=links):
                self._outputs.deliver(scored, messages, delivery)

        return deliver


@contextmanager
def scorer_worker(settings: Settings, config: WorkerConfig) -> Iterator[ScorerWorker]:
    """A worker wired from settings: registry, alias watcher (hot reload), decoder, sinks. Closes them all."""
    session = connect(settings, settings.keyspace)
    try:
        registry = Registry(session, open_artifact_store(settings))
        watcher = follow(registry, settings, config.model, aliases=(config.alias,), stream=config.stream)
        watcher.start()
        try:
            store = open_schema_store(settings)
            source_topic = settings.topic(config.stream, config.source)
            metrics = WorkerMetrics(config.stream, config.model, config.alias)
            outputs = BatchOutputs(
                settings,
                store,
                config.stream,
                config.sink,
                PredictionWriter(session, settings.keyspace),
                consumer_name=config.group,
                metrics=metrics,
            )
            core = ScoringCore(EventBatchDecoder(store, config.stream, source_topic))
            yield ScorerWorker(settings, config, core, watcher.models(config.alias), outputs, metrics)
        finally:
            watcher.stop()
    finally:
        session.cluster.shutdown()
