"""Where signals go: ``<stream>.signals`` (Avro, Confluent wire format, keyed by model) and Cassandra.

``publish`` returns only once both acknowledged every signal, so a processor may then checkpoint and commit;
a failure raises (DeliveryError from the I/O layer's producer) and the processor retries the same signals
(Cassandra rows are upserts; a topic consumer may see a signal twice and dedupes on model, version, metric
and window).
"""

from __future__ import annotations

from schemas.codec import AvroCodec
from schemas.registry import SchemaStore, schema_name
from scorecast.io.producer import KafkaProducer
from scorecast.settings import Settings
from streams.signals import Signal
from streams.store import SignalStore


class SignalPublisher:
    def __init__(self, settings: Settings, stream: str, schemas: SchemaStore, store: SignalStore) -> None:
        self.topic = settings.topic(stream, "signals")
        self._codec = AvroCodec(schemas, self.topic, schema_name(stream, "signals"))
        self._store = store
        self._producer = KafkaProducer(settings, {"enable.idempotence": True, "linger.ms": 5})
        self.published = 0

    def publish(self, signals: list[Signal], timeout_s: float = 30.0) -> None:
        if not signals:
            return
        self._store.write(signals)
        for signal in signals:
            self._producer.produce(self.topic, self._codec.encode(signal.to_record()), signal.model.encode())
        self._producer.flush(timeout_s)
        self.published += len(signals)

    def close(self) -> None:
        self._producer.flush(10.0, raise_on_failure=False)
