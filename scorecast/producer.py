"""The producer SDK: validated Avro records to Kafka, keyed by entity, idempotent, failures never silent.

    with EventProducer(settings, "transactions") as producer:
        producer.send(event)          # RecordValidationError names the bad fields; nothing is queued
    # leaving the block flushed; DeliveryError if any message could not be delivered

Records are validated and encoded before they are queued (schemas.codec, Confluent wire format); events must
also keep the event rules (schemas.rules), the same ones the scorer dead-letters records for. Queueing,
delivery accounting and flushing are the I/O layer's producer (scorecast.io.producer): failures are counted
and kept (the first ``max_kept_failures``); ``flush``/``close`` raise DeliveryError if any occurred, or only
report them with ``raise_on_failure=False``. Each message carries W3C trace context in its headers: when spans
are exported, a ``send <topic>`` PRODUCER span of its own (the event's trace starts there, or joins the
caller's current span), otherwise just the current context; a scorer links its batch span to it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind

from schemas.codec import AvroCodec
from schemas.errors import RecordValidationError
from schemas.features import load_feature_spec
from schemas.registry import SchemaStore, open_store, schema_name
from schemas.rules import EventRules
from scorecast.io.producer import DeliveryError, DeliveryReport, KafkaProducer, ProducerClient
from scorecast.settings import Settings
from scorecast.telemetry import tracing_exported

# Idempotent (acks=all, ordered, no duplicates on retry) and batched: a few ms of linger buys large batches.
PRODUCER_DEFAULTS: dict[str, str | int | float | bool] = {
    "enable.idempotence": True,
    "linger.ms": 10,
    "batch.size": 1_000_000,
    "compression.type": "lz4",
    "queue.buffering.max.messages": 500_000,
    "delivery.timeout.ms": 120_000,
}


_tracer = trace.get_tracer("scorecast.producer")

__all__ = ["PRODUCER_DEFAULTS", "AvroProducer", "DeliveryError", "DeliveryReport", "EventProducer", "LabelProducer"]


class AvroProducer:
    """Sends records of one schema to one topic; the Kafka key is the record's ``key_field``."""

    def __init__(
        self,
        settings: Settings,
        topic: str,
        schema: str,
        key_field: str,
        *,
        store: SchemaStore | None = None,
        finite: frozenset[str] = frozenset(),
        config: Mapping[str, str | int | float | bool] | None = None,
        raise_on_failure: bool = True,
        max_kept_failures: int = 1_000,
        client: ProducerClient | None = None,
        unreachable_after_s: float | None = None,
    ) -> None:
        """``client``: a confluent-kafka Producer (or a test double) to use instead of creating one.
        ``unreachable_after_s``: give up (ServiceUnavailableError) once every broker has been down this long."""
        self.topic = topic
        self.key_field = key_field
        self.codec = AvroCodec(store or open_store(settings), topic, schema, finite=finite)
        self.raise_on_failure = raise_on_failure
        self._producer = KafkaProducer(
            settings,
            {**PRODUCER_DEFAULTS, **(config or {})},
            client=client,
            max_kept_failures=max_kept_failures,
            unreachable_after_s=unreachable_after_s,
        )
        self._span_attributes = {
            "messaging.system": "kafka",
            "messaging.operation.type": "send",
            "messaging.destination.name": topic,
        }
        self._context: otel_context.Context | None = None
        self._trace_headers: list[tuple[str, str | bytes | None]] = []

    def send(self, record: Mapping[str, Any], headers: Mapping[str, str] | None = None, *, tag: object = None) -> None:
        """Validate, encode and queue one record. Raises RecordValidationError (nothing queued) if invalid, and
        PermanentError if Kafka refuses it outright (too large). ``tag`` comes back in its DeliveryFailure."""
        value = self.codec.encode(record)
        key = record.get(self.key_field)
        self._produce(value, key.encode() if isinstance(key, str) else None, self._headers(headers), tag)

    def _headers(self, extra: Mapping[str, str] | None) -> list[tuple[str, str | bytes | None]]:
        """The caller's headers plus the W3C trace context: the event's own send span when spans are exported
        (each event starts its trace, or joins the caller's), else the current context, re-injected only when
        it changed."""
        if tracing_exported():
            return [*(extra or {}).items(), *self._send_span_headers()]
        current = otel_context.get_current()
        if current is not self._context:
            carrier: dict[str, str] = {}
            propagate.inject(carrier, context=current)
            self._context, self._trace_headers = current, list(carrier.items())
        return [*(extra or {}).items(), *self._trace_headers] if extra else list(self._trace_headers)

    def _send_span_headers(self) -> list[tuple[str, str | bytes | None]]:
        """A PRODUCER span for one message (OTel messaging conventions), its context injected as the headers."""
        with _tracer.start_as_current_span(
            f"send {self.topic}", kind=SpanKind.PRODUCER, attributes=self._span_attributes
        ):
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
        return list(carrier.items())

    @property
    def report(self) -> DeliveryReport:
        return self._producer.report

    def probe(self, timeout_s: float = 5.0) -> None:
        """Fail fast: ServiceUnavailableError unless a broker answers within ``timeout_s``."""
        self._producer.probe(timeout_s)

    def _produce(
        self, value: bytes, key: bytes | None, headers: list[tuple[str, str | bytes | None]], tag: object = None
    ) -> None:
        self._producer.produce(self.topic, value, key, headers=headers, tag=tag)
        self._producer.poll(0)

    def flush(self, timeout: float = 60.0) -> DeliveryReport:
        """Wait for every queued message; raise DeliveryError if any failed or is still pending."""
        return self._producer.flush(timeout, raise_on_failure=self.raise_on_failure)

    def close(self, timeout: float = 60.0) -> DeliveryReport:
        return self.flush(timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None:
            self.close()
            return
        # Deliver what was queued, but let the error that ended the block be the one that surfaces.
        with contextlib.suppress(Exception):
            self._producer.flush(60.0, raise_on_failure=False)


class EventProducer(AvroProducer):
    """Events of a stream (``<stream>.events``, or its shadow topic), keyed by entity_id; they must keep the event
    rules (ids, event time range, UTF-8) and their features must be finite as float32."""

    def __init__(self, settings: Settings, stream: str, *, kind: str = "events", **options: Any) -> None:
        numeric = frozenset(f.name for f in load_feature_spec(stream).features if f.avro_type in ("double", "float"))
        options.setdefault("finite", numeric)
        super().__init__(settings, settings.topic(stream, kind), schema_name(stream, kind), "entity_id", **options)
        self.rules = EventRules.of(settings)

    def send(self, record: Mapping[str, Any], headers: Mapping[str, str] | None = None, *, tag: object = None) -> None:
        broken = self.rules.violations(record, strings=False) if isinstance(record, Mapping) else []
        if not broken:
            try:
                super().send(record, headers, tag=tag)
                return
            except UnicodeEncodeError:  # a string fastavro cannot write (a lone surrogate): the rules name it
                broken = self.rules.violations(record)
                if not broken:
                    raise
        problems = self.codec.problems(record) + [(v.field, v.detail) for v in broken]
        raise RecordValidationError(self.codec.name, problems)


class LabelProducer(AvroProducer):
    """Late ground truth of a stream (``<stream>.labels``), keyed by entity_id like its events (event_id if none)."""

    def __init__(self, settings: Settings, stream: str, **options: Any) -> None:
        super().__init__(settings, settings.topic(stream, "labels"), "labels", "entity_id", **options)

    def send(self, record: Mapping[str, Any], headers: Mapping[str, str] | None = None, *, tag: object = None) -> None:
        if record.get("entity_id") is None:
            self._produce(self.codec.encode(record), str(record["event_id"]).encode(), self._headers(headers), tag)
            return
        super().send(record, headers, tag=tag)
