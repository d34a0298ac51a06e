"""With a schema registry: other clients' events are scored, other clients read the predictions, and a worker
never creates a version of a subject it reads (real Kafka and Cassandra; the registry is
tests/schema_registry_double.py, since no real one can run here — its docstring says why).

The independent client is confluent-kafka's own AvroSerializer / AvroDeserializer with its own registry client.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from schemas.registry import load_schema_file
from schemas.synthetic import TransactionGenerator
from scorecast.errors import ServiceUnavailableError
from scorecast.settings import Settings
from scorers.registry import ModelVersion
from scorers.worker import WorkerConfig, WorkerStats, scorer_worker
from tests.integration.producer.reading import read_topic
from tests.schema_registry_double import SchemaRegistryDouble, schema_registry_double

STREAM = "transactions"


@pytest.fixture
def registry() -> Iterator[SchemaRegistryDouble]:
    with schema_registry_double() as double:
        yield double


def _evolved_events_schema() -> dict[str, Any]:
    """The events schema a producer moved on to: one more field, with a default (FULL-compatible)."""
    schema = load_schema_file(f"{STREAM}.events")
    schema["fields"].append({"name": "device_trust", "type": "double", "default": 0.5})
    return schema


def _produce(settings: Settings, registry: SchemaRegistryDouble, schema: dict[str, Any], records: list[Any]) -> None:
    """Serialized by confluent-kafka's AvroSerializer (auto-registering, as its default is), not by scorecast."""
    client = SchemaRegistryClient({"url": registry.url})
    serialize = AvroSerializer(client, json.dumps(schema))
    topic = settings.topic(STREAM, "events")
    context = SerializationContext(topic, MessageField.VALUE)
    producer = Producer(settings.kafka_config())
    for record in records:
        producer.produce(topic, serialize(record, context), record["entity_id"].encode())
    assert producer.flush(30) == 0


def _score(settings: Settings) -> WorkerStats:
    with scorer_worker(settings, WorkerConfig(stream=STREAM, model="fraud")) as worker:
        return worker.run(threading.Event(), idle_exit_s=3.0)


def test_independent_serializers_events_are_scored_and_an_independent_deserializer_reads_the_predictions(
    pipeline_settings: Settings, registered: list[ModelVersion], registry: SchemaRegistryDouble
) -> None:
    settings = pipeline_settings.model_copy(update={"schema_registry_url": registry.url})
    before = TransactionGenerator(seed=61).generate(300).records
    after = [{**r, "device_trust": 0.9} for r in TransactionGenerator(seed=62).generate(300).records]
    _produce(settings, registry, load_schema_file(f"{STREAM}.events"), before)
    _produce(settings, registry, _evolved_events_schema(), after)
    events_subject = f"{settings.topic(STREAM, 'events')}-value"
    assert registry.versions(events_subject) == 2

    stats = _score(settings)
    assert (stats.scored, stats.dead_lettered) == (600, 0)

    topic = settings.topic(STREAM, "predictions")
    deserialize = AvroDeserializer(SchemaRegistryClient({"url": registry.url}))
    context = SerializationContext(topic, MessageField.VALUE)
    predictions = [deserialize(m.value(), context) for m in read_topic(settings, topic, 600, timeout_s=30)]
    assert sorted(p["event_id"] for p in predictions) == sorted(r["event_id"] for r in before + after)
    assert all(0.0 <= p["score"] <= 1.0 and p["model"] == "fraud" for p in predictions)
    # The worker registered its predictions under their own subject, and nothing under the events subject.
    assert registry.versions(events_subject) == 2
    assert registry.versions(f"{topic}-value") == 1


def test_a_worker_never_creates_a_version_of_the_subject_it_reads(
    pipeline_settings: Settings, registered: list[ModelVersion], registry: SchemaRegistryDouble
) -> None:
    """The producer's subject holds only its evolved schema; the worker's own (older) events schema is its
    reader schema and must not become a version there. Before, every worker registered it at start."""
    settings = pipeline_settings.model_copy(update={"schema_registry_url": registry.url})
    records = [{**r, "device_trust": 0.1} for r in TransactionGenerator(seed=63).generate(200).records]
    _produce(settings, registry, _evolved_events_schema(), records)
    events_subject = f"{settings.topic(STREAM, 'events')}-value"
    versions_before = registry.versions(events_subject)
    assert versions_before == 1

    stats = _score(settings)
    assert stats.scored == 200
    assert registry.versions(events_subject) == versions_before
    assert set(registry.state.subjects) == {events_subject, f"{settings.topic(STREAM, 'predictions')}-value"}


def test_a_worker_fails_at_start_with_one_line_when_the_registry_is_unreachable(
    pipeline_settings: Settings, registered: list[ModelVersion]
) -> None:
    with schema_registry_double() as gone:
        url = gone.url  # a port that answered a moment ago and now refuses
    settings = pipeline_settings.model_copy(update={"schema_registry_url": url})
    with pytest.raises(ServiceUnavailableError) as raised, scorer_worker(settings, WorkerConfig(STREAM, "fraud")):
        pass
    assert f"schema registry at {url} unreachable" in str(raised.value)
    assert "SCORECAST_SCHEMA_REGISTRY_URL" in str(raised.value)
    assert "\n" not in str(raised.value)
