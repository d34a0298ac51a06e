"""Late ground truth for a report: whatever labels the ``<stream>.labels`` topic holds for given events.

Labels arrive long after their events (label_time is in the future of event_time) and a label's Kafka
timestamp says nothing about its event's time, so the report reads each partition from its start to the
high watermark it had when the read began, with ``assign`` (no group, no commits, no live offset moves).
A label read again for the same event replaces the earlier one (a correction); an undecodable label is
counted and shown in the report.
"""

from __future__ import annotations

import uuid
from collections.abc import Set
from dataclasses import dataclass, field

from confluent_kafka import Consumer, TopicPartition

from schemas.codec import AvroCodec
from schemas.errors import SchemaError
from schemas.registry import open_store, schema_name
from scorecast.errors import ScorecastError
from scorecast.settings import Settings


class LabelsReadError(ScorecastError):
    """The labels topic could not be read to its end."""


@dataclass
class Labels:
    by_event: dict[str, int] = field(default_factory=dict)
    read: int = 0
    undecodable: int = 0


def read_labels(settings: Settings, stream: str, event_ids: Set[str], timeout_s: float = 30.0) -> Labels:
    topic = settings.topic(stream, "labels")
    codec = AvroCodec(open_store(settings), topic, schema_name(stream, "labels"))
    consumer = Consumer(
        {**settings.kafka_config(), "group.id": f"scorecast.shadow-report.{uuid.uuid4()}", "enable.auto.commit": False}
    )
    out = Labels()
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
        if metadata is None or metadata.error is not None:
            return out
        ends: dict[int, int] = {}
        starts = []
        for p in metadata.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)
            if high > low:
                ends[p] = high
                starts.append(TopicPartition(topic, p, low))
        consumer.assign(starts)
        while ends:
            messages = consumer.consume(5000, timeout_s)
            if not messages:
                # Control records (transaction markers) can end a partition without a message to read.
                positions = consumer.position([TopicPartition(topic, p) for p in ends])
                done = [tp.partition for tp in positions if tp.offset >= ends[tp.partition]]
                if not done:
                    raise LabelsReadError(f"labels topic {topic} stopped answering before its end")
                for p in done:
                    del ends[p]
            for m in messages:
                if m.error() is not None:
                    continue
                partition, offset = m.partition() or 0, m.offset() or 0
                if partition not in ends or offset >= ends[partition]:
                    continue
                out.read += 1
                try:
                    record = codec.decode(m.value() or b"")
                except SchemaError:
                    out.undecodable += 1
                else:
                    if record["event_id"] in event_ids:
                        out.by_event[record["event_id"]] = record["label"]
                if offset + 1 >= ends[partition]:
                    del ends[partition]
    finally:
        consumer.close()
    return out
