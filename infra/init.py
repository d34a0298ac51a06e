"""`scorecast init`: every topic and table a deployment needs, created idempotently."""

from __future__ import annotations

from dataclasses import dataclass

from infra.migrations import Migration, migrate
from infra.topics import ensure_topics, stream_topics
from schemas.features import AVRO_DIR
from scorecast.io.cassandra import cassandra_session
from scorecast.settings import Settings


@dataclass(frozen=True)
class InitResult:
    topics_created: list[str]
    migrations_applied: list[Migration]


def known_streams() -> list[str]:
    """Streams that have an events schema in schemas/avro."""
    return sorted(p.name.removesuffix(".events.avsc") for p in AVRO_DIR.glob("*.events.avsc"))


def initialise(settings: Settings, streams: list[str] | None = None) -> InitResult:
    topics = [t for stream in (streams or known_streams()) for t in stream_topics(settings, stream)]
    created = ensure_topics(settings, topics)
    with cassandra_session(settings, keyspace=False) as session:
        applied = migrate(session, settings)
    return InitResult(created, applied)
