"""The producer SDK's own logic, on a fake client: keys, headers, validation, retries, failure accounting."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import KafkaError
from opentelemetry.sdk.trace import TracerProvider

from schemas.codec import AvroCodec
from schemas.errors import RecordValidationError
from schemas.registry import LocalSchemaStore
from schemas.synthetic import TransactionGenerator, label_records
from scorecast.io.testing import ProducerDouble as FakeProducer
from scorecast.producer import DeliveryError, EventProducer, LabelProducer
from scorecast.settings import Settings

SETTINGS = Settings(topic_prefix="unit.")


def test_send_encodes_keys_by_entity_and_adds_headers() -> None:
    fake = FakeProducer()
    records = TransactionGenerator(seed=1).generate(3).records
    with EventProducer(SETTINGS, "transactions", client=fake) as producer:
        for record in records:
            producer.send(record, headers={"origin": "unit"})
    assert [m["topic"] for m in fake.produced] == ["unit.transactions.events"] * 3
    assert [m["key"] for m in fake.produced] == [r["entity_id"].encode() for r in records]
    codec = AvroCodec(LocalSchemaStore(), "unit.transactions.events", "transactions.events")
    assert [codec.decode(m["value"]) for m in fake.produced] == records
    assert all(("origin", "unit") in m["headers"] for m in fake.produced)
    assert (producer.report.sent, producer.report.delivered, producer.report.failed) == (3, 3, 0)


def test_the_trace_context_follows_the_current_span() -> None:
    fake = FakeProducer()
    record = TransactionGenerator(seed=2).generate(1).records[0]
    tracer = TracerProvider().get_tracer("unit")
    producer = EventProducer(SETTINGS, "transactions", client=fake)
    producer.send(record)
    with tracer.start_as_current_span("first") as first:
        producer.send(record)
    with tracer.start_as_current_span("second") as second:
        producer.send(record)
    producer.close()
    parents = [dict(m["headers"]).get("traceparent") for m in fake.produced]
    assert parents[0] is None  # no span, no header
    assert isinstance(parents[1], str)
    assert isinstance(parents[2], str)
    assert parents[1].split("-")[1] == format(first.get_span_context().trace_id, "032x")
    assert parents[2].split("-")[2] == format(second.get_span_context().span_id, "016x")


def test_an_invalid_record_is_not_queued() -> None:
    fake = FakeProducer()
    producer = EventProducer(SETTINGS, "transactions", client=fake)
    record = TransactionGenerator(seed=3).generate(1).records[0] | {"foreign": "no"}
    with pytest.raises(RecordValidationError, match="foreign"):
        producer.send(record)
    assert fake.produced == []
    assert producer.report.sent == 0


def test_a_full_local_queue_is_waited_out() -> None:
    fake = FakeProducer(full_times=3)
    producer = EventProducer(SETTINGS, "transactions", client=fake)
    producer.send(TransactionGenerator(seed=4).generate(1).records[0])
    assert len(fake.produced) == 1
    assert fake.polls >= 3
    assert producer.close().delivered == 1


def test_delivery_failures_raise_on_close() -> None:
    fake = FakeProducer(fail_with=KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
    producer = EventProducer(SETTINGS, "transactions", client=fake)
    for record in TransactionGenerator(seed=5).generate(4).records:
        producer.send(record)
    with pytest.raises(DeliveryError, match=r"4 of 4 messages to unit\.transactions\.events not delivered"):
        producer.close()
    assert len(producer.report.failures) == 4


def test_failures_are_kept_up_to_a_bound_but_all_counted() -> None:
    fake = FakeProducer(fail_with=KafkaError(KafkaError._MSG_TIMED_OUT))
    producer = EventProducer(SETTINGS, "transactions", client=fake, raise_on_failure=False, max_kept_failures=2)
    for record in TransactionGenerator(seed=6).generate(5).records:
        producer.send(record)
    report = producer.close()
    assert (report.failed, len(report.failures)) == (5, 2)


def test_messages_still_queued_after_flush_count_as_failed() -> None:
    producer = EventProducer(SETTINGS, "transactions", client=FakeProducer(deliver=False), raise_on_failure=False)
    producer.send(TransactionGenerator(seed=7).generate(1).records[0])
    report = producer.close(timeout=0.1)
    assert (report.failed, report.pending) == (1, 0)
    assert "still undelivered" in report.failures[-1][1]


class _BlockError(Exception):
    pass


def _send_then_fail(fake: FakeProducer) -> None:
    with EventProducer(SETTINGS, "transactions", client=fake) as producer:
        producer.send(TransactionGenerator(seed=8).generate(1).records[0])
        raise _BlockError


def test_an_error_inside_the_block_is_not_hidden_by_delivery_failures() -> None:
    fake = FakeProducer(fail_with=KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
    with pytest.raises(_BlockError):
        _send_then_fail(fake)
    assert fake.produced  # what was queued was still flushed


def test_labels_are_keyed_by_entity_or_else_by_event() -> None:
    fake = FakeProducer()
    labels = label_records(TransactionGenerator(seed=9).generate(2))
    labels[1] = labels[1] | {"entity_id": None}
    with LabelProducer(SETTINGS, "transactions", client=fake) as producer:
        for label in labels:
            producer.send(label)
    assert [m["topic"] for m in fake.produced] == ["unit.transactions.labels"] * 2
    assert fake.produced[0]["key"] == labels[0]["entity_id"].encode()
    assert fake.produced[1]["key"] == labels[1]["event_id"].encode()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"entity_id": "card 1/x"}, "entity_id"),
        ({"entity_id": ""}, "entity_id"),
        ({"entity_id": "c" * 129}, "entity_id"),
        ({"event_id": ""}, "event_id"),
        ({"event_id": "e" * 129}, "event_id"),
        ({"event_time": 7_258_118_400_000}, "event_time"),  # year 2200
        ({"event_time": 2**60}, "event_time"),
        ({"event_time": -(2**62)}, "event_time"),
        ({"stream": "\ud800"}, "stream"),  # a lone surrogate, as JSON's "\ud800" gives: not UTF-8
        ({"amount": 1e308}, "amount"),  # a finite double, infinite as the float32 the models read
    ],
)
def test_a_record_out_of_rule_is_refused_naming_the_field(changes: dict[str, object], field: str) -> None:
    fake = FakeProducer()
    producer = EventProducer(SETTINGS, "transactions", client=fake)
    record = TransactionGenerator(seed=6).generate(1).records[0] | changes
    with pytest.raises(RecordValidationError) as caught:
        producer.send(record)
    assert caught.value.fields == [field]
    assert fake.produced == []


def test_the_allowed_clock_skew_is_a_setting() -> None:
    fake = FakeProducer()
    record = TransactionGenerator(seed=6).generate(1).records[0]
    ahead = record | {"event_time": int((time.time() + 120) * 1000)}
    EventProducer(SETTINGS, "transactions", client=fake).send(ahead)
    strict = EventProducer(SETTINGS.model_copy(update={"max_clock_skew_s": 60.0}), "transactions", client=fake)
    with pytest.raises(RecordValidationError, match=r"event_time: .* is after now \+ the allowed clock skew of 60 s"):
        strict.send(ahead)
    assert len(fake.produced) == 1
