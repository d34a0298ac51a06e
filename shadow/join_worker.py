"""The shadow joiner process: the join handler (shadow.join) on the shared BatchConsumer, wired from settings."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from schemas.codec import AvroCodec
from schemas.dead_letters import DeadLetterSink
from schemas.registry import open_store as open_schema_store
from schemas.registry import schema_name
from scorecast.batch_consumer import BatchConsumer, ConsumerConfig
from scorecast.io.cassandra import open_cassandra
from scorecast.settings import Settings
from scorers.artifacts import open_store as open_artifact_store
from scorers.registry import Registry
from shadow.champion import ChampionLookup, ChampionVersions, GroupProgress
from shadow.join import JoinConfig, JoinHandler, JoinStats
from shadow.results import ResultsWriter


class ShadowJoiner:
    def __init__(self, settings: Settings, handler: JoinHandler) -> None:
        config = handler.config
        # The predictions topic only warms the champion cache (shadow.join). With several joiners of one stream
        # and model, a member may hold a shadow partition but not its predictions twin: that costs reads only.
        topics = (settings.topic(config.stream, "shadow-predictions"), settings.topic(config.stream, "predictions"))
        self.handler = handler
        self._consumer = BatchConsumer(
            settings,
            ConsumerConfig(
                group=config.group,
                topics=topics,
                batch_max=config.batch_max,
                instance_id=config.instance_id,
            ),
        )

    def run(self, stop: threading.Event, idle_exit_s: float | None = None) -> JoinStats:
        consumed = self._consumer.run(self.handler, stop, idle_exit_s)
        stats = self.handler.stats
        stats.batches = consumed.batches
        stats.retries = consumed.retries
        return stats


@contextmanager
def shadow_joiner(
    settings: Settings, config: JoinConfig, stop: threading.Event | None = None
) -> Iterator[ShadowJoiner]:
    """A joiner wired from settings: registry (champion versions), lookups, progress, writer, dead letters."""
    session = open_cassandra(settings)
    try:
        registry = Registry(session, open_artifact_store(settings))
        topic = settings.topic(config.stream, "shadow-predictions")
        handler = JoinHandler(
            config,
            AvroCodec(open_schema_store(settings, stop), topic, schema_name(config.stream, "shadow-predictions")),
            settings.topic(config.stream, "predictions"),
            ChampionVersions(registry, config.model, settings.model_poll_interval_s),
            ChampionLookup(session, settings.keyspace, config.model),
            GroupProgress(settings, config.champions, settings.topic(config.stream, "events")),
            ResultsWriter(session, settings.keyspace),
            DeadLetterSink(settings, config.stream, config.group),
        )
        yield ShadowJoiner(settings, handler)
    finally:
        session.cluster.shutdown()
