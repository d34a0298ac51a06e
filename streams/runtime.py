"""Processors wired from settings: Cassandra session, references, consumer, publisher, alerts, checkpoint.

``drift_processor`` and ``promotion_processor`` are context managers: they check that the model can be
watched, restore the last checkpoint, yield a worker ready to ``run``, and close everything (consumer,
producers, webhook thread, session) on exit.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from cassandra import DriverException
from cassandra.cluster import Session
from confluent_kafka import Consumer

from schemas.dead_letters import DeadLetterSink
from schemas.registry import SchemaStore
from schemas.registry import open_store as open_schema_store
from scorecast.errors import ScorecastError
from scorecast.io.cassandra import cassandra_session
from scorecast.settings import Settings
from scorers.artifacts import open_store as open_artifact_store
from scorers.registry import Registry
from streams import kafka
from streams.alerts import Alerter
from streams.config import AlertOptions, ModelOptions
from streams.drift_worker import DriftWorker
from streams.emit import Emitter
from streams.promotion_worker import PromotionWorker
from streams.publish import SignalPublisher
from streams.references import FixedReferences, References, RegistryReferences
from streams.store import CheckpointStore, SignalStore
from streams.webhook import WebhookSender


@dataclass(frozen=True)
class Names:
    processor: str  # checkpoint key
    group: str  # consumer group that holds the committed offsets (Settings.group_id adds the topic prefix)

    @classmethod
    def of(cls, kind: str, stream: str, model: str) -> Names:
        return cls(f"{kind}:{stream}:{model}", f"scorecast.{stream}.{kind}.{model}")


@dataclass(frozen=True)
class Wiring:
    session: Session
    schemas: SchemaStore
    client: Consumer
    emitter: Emitter
    checkpoints: CheckpointStore
    dead_letters: DeadLetterSink


def alerter(options: AlertOptions) -> Alerter:
    if not options.webhook_url:
        return Alerter()
    return Alerter(
        WebhookSender(
            options.webhook_url,
            timeout_s=options.timeout_s,
            retries=options.retries,
            backoff_s=options.backoff_s,
            backoff_max_s=options.backoff_max_s,
            queue_size=options.queue_size,
        )
    )


@contextmanager
def wiring(
    settings: Settings, stream: str, names: Names, options: ModelOptions, stop: threading.Event | None = None
) -> Iterator[Wiring]:
    with ExitStack() as stack:
        session = stack.enter_context(cassandra_session(settings))
        schemas = open_schema_store(settings, stop)  # a stop ends a wait for an unreachable registry
        alerts = alerter(options.alerts)
        stack.callback(alerts.close)
        try:
            signal_store, checkpoints = SignalStore(session), CheckpointStore(session)
        except DriverException as error:  # the tables of migration 0004 are missing
            raise ScorecastError(
                f"keyspace {settings.keyspace} lacks the signal tables (run `scorecast init`)"
            ) from error
        publisher = SignalPublisher(settings, stream, schemas, signal_store)
        stack.callback(publisher.close)
        client = kafka.consumer(settings, settings.group_id(names.group))
        stack.callback(client.close)
        emitter = Emitter(names.processor, client, publisher, alerts, checkpoints)
        dead_letters = DeadLetterSink(settings, stream, names.processor)
        stack.callback(dead_letters.flush)
        yield Wiring(session, schemas, client, emitter, checkpoints, dead_letters)


def references(settings: Settings, session: Session, model: str, stream: str, reference: Path | None) -> References:
    if reference is not None:
        return FixedReferences(reference, stream)
    found = RegistryReferences(Registry(session, open_artifact_store(settings)), model, settings.model_poll_interval_s)
    champion = found.champion()
    if champion is None:
        raise ScorecastError(f"model {model!r} has no champion in the registry (or pass --reference FILE)")
    return found


@contextmanager
def drift_processor(
    settings: Settings,
    stream: str,
    model: str,
    options: ModelOptions,
    reference: Path | None = None,
    stop: threading.Event | None = None,
) -> Iterator[DriftWorker]:
    names = Names.of("drift", stream, model)
    with wiring(settings, stream, names, options, stop) as w:
        refs = references(settings, w.session, model, stream, reference)
        champion = refs.champion()
        if champion is not None and refs.profile(champion) is None:
            raise ScorecastError(f"{model} v{champion} has no reference profile (register one, or pass --reference)")
        worker = DriftWorker(
            settings, stream, model, options.drift, refs, w.emitter, w.schemas, w.dead_letters, w.client
        )
        checkpoint = w.checkpoints.load(names.processor)
        if checkpoint is not None:
            worker.restore(checkpoint.state)
        yield worker


@contextmanager
def promotion_processor(
    settings: Settings, stream: str, model: str, options: ModelOptions, stop: threading.Event | None = None
) -> Iterator[PromotionWorker]:
    names = Names.of("promotion", stream, model)
    with wiring(settings, stream, names, options, stop) as w:
        refs = references(settings, w.session, model, stream, None)
        worker = PromotionWorker(
            settings,
            stream,
            model,
            options.promotion,
            options.concept,
            refs,
            w.emitter,
            w.schemas,
            w.dead_letters,
            w.client,
        )
        checkpoint = w.checkpoints.load(names.processor)
        if checkpoint is not None:
            worker.restore(checkpoint.state, checkpoint.offsets)
        yield worker
