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
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from confluent_kafka import Message

from schemas.codec import AvroCodec, frame
from schemas.dead_letters import DeadLetterSink
from schemas.prediction_encoder import PredictionEncoder
from schemas.registry import SchemaStore, schema_name
from scorecast.errors import PermanentError
from scorecast.io.producer import DeliveryError, KafkaProducer
from scorecast.settings import Settings
from scorecast.telemetry import trace_ids
from scorers.metrics import WorkerMetrics
from scorers.prediction_sink import PredictionRows, PredictionSink
from scorers.scoring import ScoredBatch

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
        writer: PredictionSink,
        consumer_name: str,
        metrics: WorkerMetrics | None = None,
        producer: KafkaProducer | None = None,
    ) -> None:
        self._topic = settings.topic(stream, sink_kind)
        self._codec = AvroCodec(store, self._topic, schema_name(stream, sink_kind))
        self._encoder: PredictionEncoder | Literal[False] | None = None  # None: not chosen yet (at the first batch)
        self._writer = writer
        self._producer = producer or KafkaProducer(
            settings,
            {
                "enable.idempotence": True,
                "linger.ms": 5,
                "compression.type": "lz4",
                "queue.buffering.max.kbytes": 65536,
            },
            # Every failure of a flush must be matched to its record (a permanent one is dead-lettered); only the
            # current flush's are kept, so a long outage does not grow the worker.
            max_kept_failures=_KEPT_FAILURES,
            keep_failures=False,
        )
        self._dead_letters = DeadLetterSink(settings, stream, consumer_name, self._producer)
        self._metrics = metrics
        self.sink_rejected = 0  # events dead-lettered because a sink refused their prediction

    def deliver(self, scored: ScoredBatch, messages: Sequence[Message], delivery: Delivery) -> None:
        """Cassandra rows, then prediction records and dead letters, all acknowledged; raises RetryableError
        (retry the same ``delivery``) otherwise. Events a sink refuses deterministically are dead-lettered."""
        started = time.perf_counter()
        traced = _traced_rows(scored, messages)
        for result in scored.results:
            step = f"cassandra:{result.rows.version}"
            if step not in delivery.done:
                rows = result.rows if traced is None else replace(result.rows, trace_ids=traced)
                for refused in self._writer.write(rows):
                    delivery.rejected.setdefault(int(scored.positions[refused.row]), refused.error)
                delivery.done.add(step)
        if "predictions" not in delivery.done:
            sent: list[tuple[int, int]] = []
            for result in scored.results:
                sent += self._produce(result.rows, scored, messages, delivery)
            self._flush(sent, delivery)
            delivery.done.add("predictions")
        if "dead-letters" not in delivery.done:
            self._dead_letters.failed.clear()
            self._dead_letters.send_failures(messages, scored.rejects)
            for position, error in sorted(delivery.rejected.items()):
                self._dead_letters.send(messages[position], SINK_REJECTED, error, type(error).__name__)
            self._dead_letters.flush()
            delivery.done.add("dead-letters")
            self.sink_rejected += len(delivery.rejected)
            if self._metrics is not None and delivery.rejected:
                self._metrics.refused_by_sinks(len(delivery.rejected))
        if self._metrics is not None:
            self._metrics.written(time.perf_counter() - started)

    def _produce(
        self, rows: PredictionRows, scored: ScoredBatch, messages: Sequence[Message], delivery: Delivery
    ) -> list[tuple[int, int]]:
        """Queue the records not yet acknowledged; returns their (version, position) tags."""
        produce, topic = self._producer.produce, self._topic
        version, rejected, published = rows.version, delivery.rejected, delivery.published
        sent = []
        for position, entity_id, value in zip(
            scored.positions.tolist(), rows.entity_ids, self._encode(rows), strict=True
        ):
            if position in rejected or (version, position) in published:
                continue
            tag = (version, position)
            try:
                produce(topic, value, entity_id.encode(), headers=messages[position].headers(), tag=tag)
            except PermanentError as error:  # refused before it was queued (e.g. over message.max.bytes)
                rejected.setdefault(position, error)
                continue
            sent.append(tag)
        return sent

    def _encode(self, rows: PredictionRows) -> list[bytes]:
        """The rows' prediction records: column by column where the schema is the layout schemas.prediction_encoder
        writes (byte for byte fastavro's), through the codec record by record otherwise."""
        if self._encoder is None:
            self._encoder = PredictionEncoder.of(self._codec.raw_schema, frame(self._codec.schema_id, b"")) or False
        if self._encoder:
            return self._encoder.encode(
                model=rows.model,
                version=rows.version,
                variant=rows.variant,
                scored_at_ms=rows.scored_at_ms,
                event_ids=rows.event_ids,
                entity_ids=rows.entity_ids,
                event_times_ms=rows.event_times_ms,
                scores=rows.scores,
            )
        encode = self._codec.encode
        columns = (rows.entity_ids, rows.event_ids, rows.event_times_ms.tolist(), rows.scores.tolist())
        return [
            encode(
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
            for entity_id, event_id, event_time, score in zip(*columns, strict=True)
        ]

    def _flush(self, sent: list[tuple[int, int]], delivery: Delivery, timeout_s: float = 30.0) -> None:
        """Wait for the records; a permanently refused one dead-letters its event, anything else is raised."""
        failed_before = self._producer.report.failed
        try:
            self._producer.flush(timeout_s)
        except DeliveryError as error:
            known = len(error.failures) >= error.report.failed - failed_before  # each failure names its record
            retry = not known
            for failure in error.failures:
                if isinstance(failure.error, PermanentError) and isinstance(failure.tag, tuple):
                    delivery.rejected.setdefault(failure.tag[1], failure.error)
                else:
                    retry = True
            if known:  # every other record was acknowledged: a retry skips it
                failed = {f.tag for f in error.failures}
                delivery.published.update(t for t in sent if t not in failed)
            if retry:
                raise
            return
        delivery.published.update(sent)

    def close(self) -> None:
        self._producer.flush(30.0, raise_on_failure=False)


def _traced_rows(scored: ScoredBatch, messages: Sequence[Message]) -> list[str | None] | None:
    """The trace id of each scored event (rows are in ``scored.positions`` order), or None if no event has one."""
    ids = trace_ids([m.headers() for m in messages])
    if ids is None:
        return None
    return [ids[position] for position in scored.positions.tolist()]


_KEPT_FAILURES = 1_000_000  # per flush: far above a batch's records (batch_max * versions + dead letters)
