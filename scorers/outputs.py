"""Where a scored micro-batch goes: Cassandra rows, prediction records on Kafka, dead letters.

``deliver`` returns only when all three are acknowledged, so the caller may then commit offsets. It records
which steps are done in the batch's ``Delivery``: a retry after a failure redoes only what did not finish
(each Cassandra version, each unacknowledged prediction record, the dead letters).

Failures are told apart by class (scorecast.io.errors): a retryable one is raised, and the caller delivers the
batch again; a permanent one names a record — a row Cassandra refuses (found by bisecting, see
prediction_sink), a prediction record Kafka refuses — and that event is dead-lettered as ``sink-rejected``
with the reason while the rest of the batch is delivered. No record can hold its partition back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from schemas.codec import AvroCodec
from schemas.dead_letters import DeadLetterSink
from schemas.registry import SchemaStore, schema_name
from scorecast.errors import PermanentError, RetryableError
from scorecast.io.errors import kafka_error
from scorecast.settings import Settings
from scorers.metrics import WorkerMetrics
from scorers.prediction_sink import PredictionRows, PredictionWriter
from scorers.scoring import ScoredBatch


class DeliveryError(RetryableError):
    """Kafka did not acknowledge every prediction record of a batch, for a reason outside the records."""


Headers = list[tuple[str, str | bytes | None]] | None

# The dead-letter reason of an event whose prediction a sink refused deterministically.
SINK_REJECTED = "sink-rejected"


@dataclass
class Delivery:
    """The steps of one batch that are done, and what they settled; kept across retries of that batch."""

    done: set[str] = field(default_factory=set)
    rejected: dict[int, PermanentError] = field(default_factory=dict)  # input positions a sink refused
    published: set[tuple[int, int]] = field(default_factory=set)  # (version, position) records acknowledged


class BatchOutputs:
    def __init__(
        self,
        settings: Settings,
        store: SchemaStore,
        stream: str,
        sink_kind: str,
        writer: PredictionWriter,
        consumer_name: str,
        metrics: WorkerMetrics | None = None,
        max_queue_wait_s: float = 60.0,
    ) -> None:
        self._topic = settings.topic(stream, sink_kind)
        self._codec = AvroCodec(store, self._topic, schema_name(stream, sink_kind))
        self._writer = writer
        self._producer = Producer(
            {
                **settings.kafka_config(),
                "enable.idempotence": True,
                "linger.ms": 5,
                "compression.type": "lz4",
                "queue.buffering.max.kbytes": 65536,
            }
        )
        self._dead_letters = DeadLetterSink(settings, stream, consumer_name, self._producer)
        self._metrics = metrics
        self._max_queue_wait_s = max_queue_wait_s
        self._failed: list[str] = []

    def deliver(self, scored: ScoredBatch, messages: Sequence[Message], delivery: Delivery) -> None:
        """Cassandra rows, then prediction records and dead letters, all acknowledged; raises RetryableError
        (retry the same ``delivery``) otherwise. Events a sink refuses deterministically are dead-lettered."""
        started = time.perf_counter()
        for result in scored.results:
            step = f"cassandra:{result.rows.version}"
            if step not in delivery.done:
                for refused in self._writer.write(result.rows):
                    delivery.rejected.setdefault(int(scored.positions[refused.row]), refused.error)
                delivery.done.add(step)
        if "predictions" not in delivery.done:
            self._failed.clear()
            for result in scored.results:
                self._produce(result.rows, scored, messages, delivery)
            self._flush()
            delivery.done.add("predictions")
        if "dead-letters" not in delivery.done:
            self._dead_letters.failed.clear()
            self._dead_letters.send_failures(messages, scored.rejects)
            for position, error in sorted(delivery.rejected.items()):
                self._dead_letters.send(messages[position], SINK_REJECTED, error, type(error).__name__)
            self._dead_letters.flush()
            delivery.done.add("dead-letters")
            if self._metrics is not None and delivery.rejected:
                self._metrics.refused_by_sinks(len(delivery.rejected))
        if self._metrics is not None:
            self._metrics.written(time.perf_counter() - started)

    def _produce(
        self, rows: PredictionRows, scored: ScoredBatch, messages: Sequence[Message], delivery: Delivery
    ) -> None:
        encode = self._codec.encode
        version, rejected, published = rows.version, delivery.rejected, delivery.published
        columns = (rows.entity_ids, rows.event_ids, rows.event_times_ms.tolist(), rows.scores.tolist())
        for position, entity_id, event_id, event_time, score in zip(scored.positions.tolist(), *columns, strict=True):
            if position in rejected or (version, position) in published:
                continue
            value = encode(
                {
                    "event_id": event_id,
                    "entity_id": entity_id,
                    "event_time": event_time,
                    "model": rows.model,
                    "version": version,
                    "score": score,
                    "outputs": {},
                    "scored_at": rows.scored_at_ms,
                    "variant": rows.variant,
                },
                check=False,
            )
            reported = partial(self._on_delivery, delivery, version, position)
            try:
                self._produce_one(value, entity_id.encode(), messages[position].headers(), reported)
            except KafkaException as error:  # refused before it was queued (e.g. over message.max.bytes)
                translated = kafka_error(error, f"Kafka topic {self._topic}")
                if not isinstance(translated, PermanentError):
                    raise translated from None
                rejected.setdefault(position, translated)

    def _produce_one(self, value: bytes, key: bytes, headers: Headers, reported: Callable[..., None]) -> None:
        deadline = time.monotonic() + self._max_queue_wait_s
        while True:
            try:
                self._producer.produce(self._topic, value, key, headers=headers, on_delivery=reported)
                return
            except BufferError:  # local queue full: let librdkafka drain it, for a bounded time
                if time.monotonic() >= deadline:
                    raise DeliveryError(
                        f"Kafka producer queue still full after {self._max_queue_wait_s:.0f}s"
                    ) from None
                self._producer.poll(0.05)

    def _on_delivery(
        self, delivery: Delivery, version: int, position: int, error: KafkaError | None, _: Message
    ) -> None:
        if error is None:
            delivery.published.add((version, position))
            return
        translated = kafka_error(error, f"Kafka topic {self._topic}")
        if isinstance(translated, PermanentError):  # this record will never be accepted: dead-letter its event
            delivery.rejected.setdefault(position, translated)
        else:
            self._failed.append(str(translated))

    def _flush(self, timeout_s: float = 30.0) -> None:
        remaining = self._producer.flush(timeout_s)
        if remaining:
            self._failed.append(f"{remaining} records still undelivered after {timeout_s:.0f}s")
        if self._failed:
            raise DeliveryError(
                f"{len(self._failed)} prediction records not delivered to {self._topic}: {self._failed[0]}"
            )

    def close(self) -> None:
        self._producer.flush(30)
