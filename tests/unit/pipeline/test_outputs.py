"""BatchOutputs by error class: refused rows and records dead-letter their events, the rest is delivered, and a
retry redoes only what is not acknowledged. Doubles stand in for Cassandra's writer and librdkafka."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from confluent_kafka import KafkaError, Message

from schemas.batch import EventBatchDecoder
from schemas.codec import AvroCodec
from schemas.registry import LocalSchemaStore
from schemas.synthetic import TransactionGenerator
from scorecast.errors import PermanentError, RetryableError
from scorecast.io.producer import KafkaProducer
from scorecast.settings import Settings
from scorers.outputs import SINK_REJECTED, BatchOutputs, Delivery
from scorers.prediction_sink import PredictionRows, RejectedRow
from scorers.scoring import ScoredBatch, ScoringCore

SETTINGS = Settings(topic_prefix="unit.")
STREAM = "transactions"


@dataclass(frozen=True)
class ConstantModel:
    name: str = "fraud"
    version: int = 1

    def predict_unchecked(self, features: np.ndarray) -> np.ndarray:
        return np.full(len(features), 0.5, dtype=np.float32)


@dataclass
class WriterDouble:
    """Refuses the rows at ``refuse`` (as PredictionWriter returns rows Cassandra refused)."""

    refuse: set[int]
    calls: int = 0

    def write(self, rows: PredictionRows) -> list[RejectedRow]:
        self.calls += 1
        return [
            RejectedRow(i, PermanentError("Cassandra: Key length is longer than maximum")) for i in sorted(self.refuse)
        ]


@dataclass
class ClientDouble:
    """librdkafka's producer: a record keyed in ``too_large`` is refused for good; one keyed in ``timing_out``
    times out on its first try only."""

    too_large: set[bytes]
    timing_out: set[bytes]
    produced: list[dict[str, Any]] = field(default_factory=list)
    _pending: list[tuple[Any, Message]] = field(default_factory=list)

    def produce(self, topic: str, value: bytes | None, key: bytes | None = None, **kwargs: Any) -> None:
        self.produced.append({"topic": topic, "key": key, "headers": dict(kwargs.get("headers") or [])})
        self._pending.append((kwargs["on_delivery"], Message(topic=topic, key=key, value=value)))

    def poll(self, timeout: float) -> int:
        return self.flush(timeout)

    def flush(self, timeout: float) -> int:
        served, self._pending = self._pending, []
        for report, message in served:
            key = message.key()
            error = None
            if key in self.too_large:
                error = KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)
            elif key in self.timing_out:
                self.timing_out.discard(key)
                error = KafkaError(KafkaError._MSG_TIMED_OUT)
            report(error, message)
        return 0

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> Any:
        return {}


def _batch(n: int) -> tuple[ScoredBatch, list[Message]]:
    store = LocalSchemaStore()
    codec = AvroCodec(store, f"unit.{STREAM}.events", f"{STREAM}.events")
    records = TransactionGenerator(seed=3).generate(n).records
    for i, record in enumerate(records):
        record["entity_id"] = f"card-{i}"
    values = [codec.encode(r) for r in records]
    messages = [Message(topic=f"unit.{STREAM}.events", partition=0, offset=i, value=v) for i, v in enumerate(values)]
    scored = ScoringCore(EventBatchDecoder(store, STREAM)).score(values, [ConstantModel()], variant="champion")
    return scored, messages


def test_refused_rows_and_records_are_dead_lettered_and_a_retry_redoes_only_the_unacknowledged() -> None:
    scored, messages = _batch(20)
    writer = WriterDouble(refuse={3})
    client = ClientDouble(too_large={b"card-5"}, timing_out={b"card-9"})
    outputs = BatchOutputs(
        SETTINGS,
        LocalSchemaStore(),
        STREAM,
        "predictions",
        writer,  # type: ignore[arg-type]
        "scorer",
        producer=KafkaProducer(SETTINGS, client=client),
    )
    delivery = Delivery()
    with pytest.raises(RetryableError):
        outputs.deliver(scored, messages, delivery)  # card-9 timed out: the batch is delivered again
    first = [p["key"] for p in client.produced]
    assert b"card-3" not in first  # not in Cassandra: no prediction record
    assert len(first) == 19
    outputs.deliver(scored, messages, delivery)
    assert writer.calls == 1  # the rows were written once
    again = client.produced[len(first) :]
    predictions = [p["key"] for p in again if p["topic"] == f"unit.{STREAM}.predictions"]
    assert predictions == [b"card-9"]  # only what was not acknowledged
    letters = [p for p in again if p["topic"] == f"unit.{STREAM}.dead-letters"]
    assert sorted(int(p["headers"]["scorecast.dlq.source.offset"]) for p in letters) == [3, 5]
    assert {p["headers"]["scorecast.dlq.reason"] for p in letters} == {SINK_REJECTED.encode()}
    assert outputs.sink_rejected == 2
