"""The shadow tee: a BatchConsumer handler copying ``<stream>.events`` into ``<stream>.shadow``.

Every event, or the entities a deterministic hash keeps (shadow.sampling), is copied with its key, value,
timestamp and headers (so trace context reaches the challengers). Two headers are added, because the
challenger's prediction record keeps its source's headers but not its timestamp: the event's origin
(``partition:offset`` on the events topic) and its produce time. The joiner measures both sides' latency
from that time and asks the champion's consumer group whether it has passed that offset.

Delivery is produce + flush on the I/O layer's idempotent producer, checked per message; a failure raises
DeliveryError, the shared BatchConsumer retries the whole batch and commits only after. A retry after a
partial failure can copy an event twice; everything downstream (challenger rows, joined rows) is an upsert
keyed by the event, so a duplicate changes nothing.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Message

from schemas.dead_letters import header_pairs
from scorecast.batch_consumer import BatchConsumer, ConsumerConfig, Deliver
from scorecast.io.producer import KafkaProducer
from scorecast.settings import Settings
from shadow.sampling import EntitySampler

SOURCE_HEADER = "scorecast.shadow.source"  # b"<events partition>:<offset>"
PRODUCED_HEADER = "scorecast.shadow.produced_at"  # b"<epoch ms>": the event's Kafka timestamp


@dataclass(frozen=True)
class TeeConfig:
    stream: str
    sample: float = 1.0
    salt: str = ""  # another salt draws another, independent sample of entities
    group_id: str | None = None  # default: scorecast.<stream>.shadow-tee
    batch_max: int = 2000
    instance_id: str | None = None

    @property
    def group(self) -> str:
        return self.group_id or f"scorecast.{self.stream}.shadow-tee"


@dataclass
class TeeStats:
    batches: int = 0
    consumed: int = 0
    copied: int = 0
    retries: int = 0
    partitions: set[int] = field(default_factory=set)


class TeeHandler:
    """The BatchConsumer handler: choose the sampled events once, copy them in the retried delivery."""

    def __init__(self, target: str, sampler: EntitySampler, producer: KafkaProducer) -> None:
        self.stats = TeeStats()
        self._target = target
        self._sampler = sampler
        self._producer = producer

    def __call__(self, messages: list[Message]) -> Deliver:
        keep = self._sampler.mask([m.key() for m in messages])
        chosen = [m for m, kept in zip(messages, keep, strict=True) if kept]
        self.stats.consumed += len(messages)
        self.stats.copied += len(chosen)
        return lambda: self._copy(chosen)

    def _copy(self, messages: list[Message]) -> None:
        produce, topic = self._producer.produce, self._target
        for m in messages:
            kind, timestamp = m.timestamp()
            known = kind != TIMESTAMP_NOT_AVAILABLE
            headers = header_pairs(m)
            headers.append((SOURCE_HEADER, b"%d:%d" % (m.partition() or 0, m.offset() or 0)))
            if known:
                headers.append((PRODUCED_HEADER, b"%d" % timestamp))
            produce(topic, m.value(), m.key(), headers=headers, timestamp=timestamp if known else 0)  # 0: now
        self._producer.flush(30.0)  # DeliveryError: the BatchConsumer retries the batch


class ShadowTee:
    def __init__(self, settings: Settings, config: TeeConfig) -> None:
        self.config = config
        self._producer = KafkaProducer(
            settings,
            {
                "enable.idempotence": True,
                "linger.ms": 5,
                "compression.type": "lz4",
                "queue.buffering.max.kbytes": 65536,
            },
        )
        self.handler = TeeHandler(
            settings.topic(config.stream, "shadow"), EntitySampler(config.sample, config.salt), self._producer
        )
        self._consumer = BatchConsumer(
            settings,
            ConsumerConfig(
                group=config.group,
                topics=(settings.topic(config.stream, "events"),),
                batch_max=config.batch_max,
                instance_id=config.instance_id,
            ),
        )

    def run(self, stop: threading.Event, idle_exit_s: float | None = None) -> TeeStats:
        try:
            consumed = self._consumer.run(self.handler, stop, idle_exit_s)
        finally:
            self._producer.flush(30.0, raise_on_failure=False)
        stats = self.handler.stats
        stats.batches = consumed.batches
        stats.retries = consumed.retries
        stats.partitions = consumed.partitions
        return stats
