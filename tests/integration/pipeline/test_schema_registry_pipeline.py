"""With a schema registry: other clients' events are scored, other clients read the predictions, and a worker
never creates a version of a subject it reads (real Kafka and Cassandra; the registry is
tests/schema_registry_double.py, since no real one can run here — its docstring says why).

The independent client is confluent-kafka's own AvroSerializer / AvroDeserializer with its own registry client.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from schemas.registry import load_schema_file
from schemas.synthetic import TransactionGenerator
from scorecast.errors import ServiceUnavailableError
from scorecast.settings import Settings
from scorers.registry import ModelVersion
from scorers.worker import WorkerConfig, WorkerStats, scorer_worker
from tests.integration.pipeline.conftest import worker_env
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


class _Lines:
    """A process's output, read as it comes, so a test can wait for a line."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert process.stdout is not None
        stdout = process.stdout
        threading.Thread(target=lambda: self.lines.extend(stdout), daemon=True).start()

    def wait_for(self, text: str, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not any(text in line for line in self.lines):
            assert time.monotonic() < deadline, f"no {text!r} within {timeout_s:.0f}s:\n{''.join(self.lines)}"
            time.sleep(0.05)


def _committed(settings: Settings, topic: str, group: str) -> list[int]:
    consumer = Consumer({**settings.kafka_config(), "group.id": group})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return [tp.offset for tp in consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)]
    finally:
        consumer.close()


def test_a_sigterm_while_the_registry_is_down_ends_the_worker_at_once_and_commits_nothing(
    pipeline_settings: Settings, registered: list[ModelVersion]
) -> None:
    """The worker meets a writer id it has not seen while the registry is down: SIGTERM must not wait out
    SCORECAST_SCHEMA_REGISTRY_OUTAGE_S (Kubernetes kills the pod after its grace period); the batch is left
    uncommitted, to be read again after the restart."""
    outage_s = 60.0
    topic = pipeline_settings.topic(STREAM, "events")
    records = TransactionGenerator(seed=64).generate(50).records
    scorecast = Path(sys.executable).with_name("scorecast")
    worker: subprocess.Popen[str] | None = None
    try:
        with schema_registry_double() as registry:
            settings = pipeline_settings.model_copy(
                update={"schema_registry_url": registry.url, "schema_registry_outage_s": outage_s}
            )
            serialize = AvroSerializer(
                SchemaRegistryClient({"url": registry.url}), json.dumps(_evolved_events_schema())
            )
            context = SerializationContext(topic, MessageField.VALUE)
            values = [serialize({**r, "device_trust": 0.2}, context) for r in records]  # an id the worker lacks
            worker = subprocess.Popen(
                [str(scorecast), "worker", "score", "--stream", STREAM, "--model", "fraud"],
                env=worker_env(settings),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            output = _Lines(worker)
            output.wait_for("assigned partitions")  # started while the registry answered; now it goes
        producer = Producer(settings.kafka_config())
        for value in values:
            producer.produce(topic, value)
        assert producer.flush(30) == 0
        output.wait_for("retrying in")  # decoding waits for the registry
        worker.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        code = worker.wait(timeout=outage_s + 30)
        waited_s = time.monotonic() - stopped_at
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
            worker.wait()
    text = "".join(output.lines)
    assert code == 0, text
    assert waited_s < outage_s / 6, f"exited {waited_s:.1f}s after SIGTERM:\n{text}"
    assert sum("read again after the restart" in line for line in output.lines) == 1, text
    group = settings.group_id(WorkerConfig(STREAM, "fraud").group)
    assert all(offset < 0 for offset in _committed(settings, topic, group)), "nothing was committed"
