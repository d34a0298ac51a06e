"""Where a scored micro-batch goes: Cassandra rows, prediction records on Kafka, dead letters.

``deliver`` returns only when all three are acknowledged, so the caller may then commit offsets. It records
which steps are done in the batch's ``Delivery``: a retry after a failure redoes only what did not finish.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, Message, Producer

from schemas.codec import AvroCodec
from schemas.dead_letters import DeadLetterSink
from schemas.registry import SchemaStore, schema_name
from scorecast.errors import ScorecastError
from scorecast.settings import Settings
from scorers.metrics import WorkerMetrics
from scorers.prediction_sink import PredictionRows, PredictionWriter
from scorers.scoring import ScoredBatch


class DeliveryError(ScorecastError):
    """Kafka did not acknowledge every prediction record of a batch."""


@dataclass
class Delivery:
    """The steps of one batch that are done; kept across retries of that batch."""

    done: set[str] = field(default_factory=set)


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
        self._failed: list[str] = []

    def deliver(self, scored: ScoredBatch, messages: Sequence[Message], delivery: Delivery) -> None:
        started = time.perf_counter()
        for result in scored.results:
            step = f"cassandra:{result.rows.version}"
            if step not in delivery.done:
                self._writer.write(result.rows)
                delivery.done.add(step)
        if "kafka" not in delivery.done:
            self._failed.clear()
            for result in scored.results:
                self._produce(result.rows, scored, messages)
            self._dead_letters.failed.clear()
            self._dead_letters.send_failures(messages, scored.rejects)
            self._flush()
            self._dead_letters.flush(0)  # already flushed above: only surfaces delivery failures
            delivery.done.add("kafka")
        if self._metrics is not None:
            self._metrics.written(time.perf_counter() - started)

    def _produce(self, rows: PredictionRows, scored: ScoredBatch, messages: Sequence[Message]) -> None:
        encode = self._codec.encode
        produce = self._producer.produce
        columns = (rows.entity_ids, rows.event_ids, rows.event_times_ms.tolist(), rows.scores.tolist())
        for position, entity_id, event_id, event_time, score in zip(scored.positions.tolist(), *columns, strict=True):
            value = encode(
                {
                    "event_id": event_id,
                    "entity_id": entity_id,
                    "event_time": event_time,
                    "model": rows.model,
                    "version": rows.version,
                    "score": score,
                    "outputs": {},
                    "scored_at": rows.scored_at_ms,
                    "variant": rows.variant,
                },
                check=False,
            )
            source = messages[position]
            while True:
                try:
                    produce(
                        self._topic, value, entity_id.encode(), headers=source.headers(), on_delivery=self._on_delivery
                    )
                    break
                except BufferError:  # local queue full: let librdkafka drain it
                    self._producer.poll(0.05)

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._failed.append(str(error))

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
