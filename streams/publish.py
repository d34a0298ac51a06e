"""Where signals go: ``<stream>.signals`` (Avro, Confluent wire format, keyed by model) and Cassandra.

``publish`` returns only once both acknowledged every signal, so a processor may then checkpoint and commit;
a failure raises and the processor retries the same signals (Cassandra rows are upserts; a topic consumer
may see a signal twice and dedupes on model, version, metric and window).
"""

from __future__ import annotations

from confluent_kafka import KafkaError, Message, Producer

from schemas.codec import AvroCodec
from schemas.registry import SchemaStore, schema_name
from scorecast.errors import ScorecastError
from scorecast.settings import Settings
from streams.signals import Signal
from streams.store import SignalStore


class PublishError(ScorecastError):
    """Kafka did not acknowledge every signal."""


class SignalPublisher:
    def __init__(self, settings: Settings, stream: str, schemas: SchemaStore, store: SignalStore) -> None:
        self.topic = settings.topic(stream, "signals")
        self._codec = AvroCodec(schemas, self.topic, schema_name(stream, "signals"))
        self._store = store
        self._producer = Producer({**settings.kafka_config(), "enable.idempotence": True, "linger.ms": 5})
        self._errors: list[str] = []
        self.published = 0

    def publish(self, signals: list[Signal], timeout_s: float = 30.0) -> None:
        if not signals:
            return
        self._store.write(signals)
        self._errors.clear()
        for signal in signals:
            value = self._codec.encode(signal.to_record())
            self._producer.produce(self.topic, value, signal.model.encode(), on_delivery=self._delivered)
        if self._producer.flush(timeout_s) > 0:
            self._errors.append(f"still undelivered after {timeout_s}s")
        if self._errors:
            raise PublishError(f"{len(self._errors)} signals to {self.topic} not delivered: {self._errors[0]}")
        self.published += len(signals)

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._errors.append(str(error))

    def close(self) -> None:
        self._producer.flush(10)
