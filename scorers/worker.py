"""The scorer agent: consume a micro-batch, score it, write predictions, and only then commit offsets.

Order per batch (at-least-once by construction): Cassandra writes acknowledged → predictions and dead letters
delivered to Kafka → offsets committed. A failed write is retried with backoff and nothing is consumed or
committed until it succeeds, so a slow Cassandra slows consumption instead of filling memory. SIGTERM finishes
the batch in hand, commits it and leaves the group.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from opentelemetry import trace

from schemas.batch import EventBatchDecoder
from schemas.registry import open_store as open_schema_store
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

log = logging.getLogger(__name__)
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
    batch_wait_s: float = 0.01  # short: at low rates a batch waits at most this long for company
    retry_backoff_max_s: float = 10.0
    session_timeout_ms: int = 10_000
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
        self.settings = settings
        self.config = config
        self._core = core
        self._models = models
        self._outputs = outputs
        self._metrics = metrics
        self.stats = WorkerStats()
        self._consumer = Consumer(
            {
                **settings.kafka_config(),
                "group.id": config.group,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "partition.assignment.strategy": "cooperative-sticky",
                # Bounds the prefetch queue, and so the worker's memory, whatever the topic's backlog.
                "queued.max.messages.kbytes": 16384,
                "max.poll.interval.ms": 300000,
                # A worker that died without leaving (kill -9, lost node) holds its partitions until this
                # expires; 10 s instead of librdkafka's 45 s bounds that stall.
                "session.timeout.ms": config.session_timeout_ms,
                "heartbeat.interval.ms": max(1000, config.session_timeout_ms // 4),
                # Static membership: a restarted worker with the same id gets its partitions back at once.
                **({"group.instance.id": config.instance_id} if config.instance_id else {}),
            }
        )
        self._topic = settings.topic(config.stream, config.source)

    def run(self, stop: threading.Event, idle_exit_s: float | None = None) -> WorkerStats:
        """Score until ``stop`` is set, or until partitions were held and nothing arrived for ``idle_exit_s``."""
        self._consumer.subscribe(
            [self._topic], on_assign=_log_partitions("assigned"), on_revoke=_log_partitions("revoked")
        )
        last_message = time.monotonic()
        try:
            while not stop.is_set():
                messages = self._consumer.consume(self.config.batch_max, self.config.batch_wait_s)
                messages = [m for m in messages if self._usable(m)]
                if not messages:
                    if not self._consumer.assignment():
                        last_message = time.monotonic()  # idle counts only while partitions are held
                    elif idle_exit_s is not None and time.monotonic() - last_message > idle_exit_s:
                        break
                    continue
                last_message = time.monotonic()
                self._process(messages, stop)
        finally:
            self._consumer.close()  # leaves the group at once, so the partitions move without a timeout
            self._outputs.close()
        return self.stats

    def _usable(self, message: Message) -> bool:
        error = message.error()
        if error is None:
            return True
        if error.code() != KafkaError._PARTITION_EOF:
            log.warning("consumer error: %s", error)
        return False

    def _process(self, messages: list[Message], stop: threading.Event) -> None:
        contexts = (extract_context(m.headers()) for m in messages[:_MAX_LINKS])
        links = [trace.Link(trace.get_current_span(c).get_span_context()) for c in contexts]
        with tracer.start_as_current_span("scorecast.score_batch", links=links) as span:
            span.set_attribute("messaging.batch.message_count", len(messages))
            models = self._models()  # the serving versions for this whole batch: a swap never splits a batch
            started = time.perf_counter()
            with tracer.start_as_current_span("scorecast.score"):
                scored = self._core.score([m.value() for m in messages], models, variant=self.config.alias)
            self._metrics.scored(len(messages), time.perf_counter() - started, scored)
            delivery = Delivery()
            backoff = 0.1
            while True:
                try:
                    with tracer.start_as_current_span("scorecast.write"):
                        self._outputs.deliver(scored, messages, delivery)
                    break
                except Exception as error:  # any sink failure: keep the batch, back off, retry; never commit
                    # Nothing is consumed meanwhile: in-flight work stays one batch (plus librdkafka's bounded
                    # prefetch). Past max.poll.interval.ms the group moves the partitions and the commit below
                    # is refused; the new owner redoes the batch, which the idempotent writes absorb.
                    self.stats.retries += 1
                    log.warning("write failed, retrying in %.1fs: %s", backoff, error)
                    if stop.wait(backoff):
                        raise
                    backoff = min(backoff * 2, self.config.retry_backoff_max_s)
            self._commit(messages)
        self.stats.batches += 1
        self.stats.scored += len(scored.events)
        self.stats.dead_lettered += len(scored.rejects)
        self.stats.partitions.update(_partition(m) for m in messages)

    def _commit(self, messages: list[Message]) -> None:
        next_offsets: dict[tuple[str, int], int] = {}
        for m in messages:
            key = (self._topic, _partition(m))
            next_offsets[key] = max(next_offsets.get(key, 0), (m.offset() or 0) + 1)
        offsets = [TopicPartition(t, p, o) for (t, p), o in next_offsets.items()]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as error:
            # A rebalance took the partitions while this batch was written: the new owner scores it again,
            # which the idempotent writes absorb. Nothing is lost; the worker goes on.
            log.warning("commit refused (%s); the partitions' new owner will redo this batch", error)
            return
        for tp in offsets:
            _, high = self._consumer.get_watermark_offsets(tp, cached=True)
            if high >= 0:
                self._metrics.lag(tp.partition, high - tp.offset)


def _partition(message: Message) -> int:
    partition = message.partition()
    assert partition is not None  # set on every consumed message
    return partition


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


def _log_partitions(what: str) -> Callable[[Consumer, list[TopicPartition]], None]:
    def log_them(_: Consumer, partitions: list[TopicPartition]) -> None:
        if partitions:
            log.info("%s partitions %s", what, sorted(tp.partition for tp in partitions))

    return log_them
