"""Schema ids from a Schema Registry by URL, with real Kafka: the producer SDK registers, decoding only reads.

The registry is tests/schema_registry_double.py (no real one can run here; its docstring says why). What is
tested is our side: subjects named <topic>-value, the ids in the bytes, decoding by those ids, and that
reading never registers.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

import pytest

from schemas.batch import EventBatchDecoder
from schemas.registry import RegistrySchemaStore
from schemas.registry_client import RegistryClient
from schemas.synthetic import TransactionGenerator
from scorecast import EventProducer
from scorecast.settings import Settings
from tests.integration.producer.reading import read_topic
from tests.schema_registry_double import SchemaRegistryDouble, schema_registry_double


@pytest.fixture
def registry() -> Iterator[SchemaRegistryDouble]:
    with schema_registry_double() as double:
        yield double


def test_ids_come_from_the_registry_under_topic_name_subjects(
    settings: Settings, registry: SchemaRegistryDouble
) -> None:
    with_registry = settings.model_copy(update={"schema_registry_url": registry.url})
    records = TransactionGenerator(seed=51).generate(20).records
    with EventProducer(with_registry, "transactions") as producer:
        for record in records:
            producer.send(record)
    topic = settings.topic("transactions", "events")
    assert registry.state.subjects == {f"{topic}-value": [1]}

    values = [m.value() or b"" for m in read_topic(settings, topic, 20, timeout_s=30)]
    assert {struct.unpack(">bI", v[:5]) for v in values} == {(0, 1)}
    posts = registry.registrations()
    store = RegistrySchemaStore(RegistryClient(registry.url))
    values.append(struct.pack(">bI", 0, 555) + values[0][5:])
    batch = EventBatchDecoder(store, "transactions", topic).decode(values)
    assert sorted(batch.event_ids) == sorted(r["event_id"] for r in records)
    assert [(f.position, f.reason) for f in batch.failures] == [(20, "unknown-schema-id")]
    assert registry.registrations() == posts  # decoding looked ids up and registered nothing
