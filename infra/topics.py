"""Kafka topics of a stream, created idempotently."""

from __future__ import annotations

from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from infra.errors import InfraError
from scorecast.settings import Settings

# Every stream has these topics: <prefix><stream>.<kind>.
STREAM_TOPIC_KINDS = ("events", "predictions", "shadow", "shadow-predictions", "labels", "dead-letters", "signals")


def stream_topics(settings: Settings, stream: str) -> list[str]:
    return [settings.topic(stream, kind) for kind in STREAM_TOPIC_KINDS]


def ensure_topics(settings: Settings, topics: list[str], partitions: int | None = None) -> list[str]:
    """Create the topics that do not exist yet; returns those created."""
    admin = AdminClient(settings.kafka_config())
    existing = set(admin.list_topics(timeout=10).topics)
    missing = [t for t in topics if t not in existing]
    if not missing:
        return []
    futures = admin.create_topics(
        [
            NewTopic(
                t, num_partitions=partitions or settings.topic_partitions, replication_factor=settings.topic_replication
            )
            for t in missing
        ],
        operation_timeout=30,
    )
    for topic, future in futures.items():
        try:
            future.result()
        except Exception as error:
            if "TOPIC_ALREADY_EXISTS" not in str(error):
                raise InfraError(f"could not create topic {topic}: {error}") from error
    return missing
