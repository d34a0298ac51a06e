"""The producer SDK against real Kafka: keys, trace context, validation, labels, failures that surface."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider

from schemas.codec import AvroCodec
from schemas.errors import RecordValidationError
from schemas.registry import LocalSchemaStore
from schemas.synthetic import TransactionGenerator, label_records
from scorecast import DeliveryError, EventProducer, LabelProducer
from scorecast.producer import AvroProducer
from scorecast.settings import Settings
from tests.integration.producer.reading import read_topic


def test_events_are_keyed_by_entity_and_carry_the_trace_context(settings: Settings) -> None:
    records = TransactionGenerator(seed=31).generate(10).records
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("produce") as span, EventProducer(settings, "transactions") as producer:
        for record in records:
            producer.send(record, headers={"origin": "test"})
        trace_id = format(span.get_span_context().trace_id, "032x")
    messages = read_topic(settings, settings.topic("transactions", "events"), 10, timeout_s=30)
    assert len(messages) == 10
    by_key = {r["entity_id"].encode(): r for r in records}
    for message in messages:
        assert message.key() in by_key
        headers = dict(message.headers() or [])
        assert headers["origin"] == b"test"
        traceparent = headers["traceparent"]
        assert isinstance(traceparent, bytes)
        assert traceparent.decode().split("-")[1] == trace_id


def test_an_invalid_record_is_refused_before_sending_and_names_its_fields(settings: Settings) -> None:
    record = TransactionGenerator(seed=32).generate(1).records[0] | {"velocity_24h": "many", "amount": float("nan")}
    del record["entity_id"]
    with EventProducer(settings, "transactions") as producer:
        with pytest.raises(RecordValidationError) as caught:
            producer.send(record)
        assert set(caught.value.fields) == {"entity_id", "velocity_24h", "amount"}
    assert producer.report.sent == 0


def test_labels_go_to_the_labels_topic(settings: Settings) -> None:
    batch = TransactionGenerator(seed=33).generate(50)
    labels = label_records(batch)
    labels[0] = labels[0] | {"entity_id": None}  # keyed by event_id then
    with LabelProducer(settings, "transactions") as producer:
        for label in labels:
            producer.send(label)
    messages = read_topic(settings, settings.topic("transactions", "labels"), 50, timeout_s=30)
    codec = AvroCodec(LocalSchemaStore(), settings.topic("transactions", "labels"), "labels")
    decoded = {codec.decode(m.value() or b"")["event_id"]: (m.key(), codec.decode(m.value() or b"")) for m in messages}
    assert {k: v[1] for k, v in decoded.items()} == {label["event_id"]: label for label in labels}
    assert decoded[labels[0]["event_id"]][0] == labels[0]["event_id"].encode()
    assert decoded[labels[1]["event_id"]][0] == labels[1]["entity_id"].encode()


def test_delivery_failures_are_counted_and_raised(settings: Settings) -> None:
    """A topic that does not exist (auto-creation is off): every message fails, and close() says so."""
    producer = AvroProducer(
        settings,
        f"{settings.topic_prefix}no-such-topic",
        "labels",
        "entity_id",
        config={"message.timeout.ms": 3_000},
    )
    for label in label_records(TransactionGenerator(seed=34).generate(5)):
        producer.send(label)
    with pytest.raises(DeliveryError, match="5 of 5 messages") as caught:
        producer.close(timeout=30)
    assert caught.value.report.failed == 5
    assert caught.value.report.delivered == 0
    assert len(caught.value.report.failures) == 5


def test_failures_can_be_collected_instead_of_raised(settings: Settings) -> None:
    producer = AvroProducer(
        settings,
        f"{settings.topic_prefix}no-such-topic",
        "labels",
        "entity_id",
        config={"message.timeout.ms": 3_000},
        raise_on_failure=False,
    )
    for label in label_records(TransactionGenerator(seed=35).generate(3)):
        producer.send(label)
    report = producer.close(timeout=30)
    assert (report.sent, report.delivered, report.failed) == (3, 0, 3)
