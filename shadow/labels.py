"""Late ground truth for a report: whatever labels the ``<stream>.labels`` topic holds for given events.

Labels arrive long after their events (label_time is in the future of event_time) and a label's Kafka
timestamp says nothing about its event's time, so the report reads each partition from its start to the
high watermark it had when the read began, with ``assign`` (no group, no commits, no live offset moves),
through the I/O layer's bounded ``read_range`` (control records, stalls).
A label read again for the same event replaces the earlier one (a correction); an undecodable label is
counted and shown in the report. Records are decoded by the shared label decoder (schemas.label_batch).
"""

from __future__ import annotations

import uuid
from collections.abc import Set
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
from confluent_kafka import Consumer, TopicPartition

from schemas.label_batch import LabelBatchDecoder
from schemas.registry import open_store
from scorecast.io.reader import RANGE_CONSUMER_CONFIG, Span, read_range
from scorecast.settings import Settings


@dataclass
class Labels:
    by_event: dict[str, int] = field(default_factory=dict)
    read: int = 0
    undecodable: int = 0


def read_labels(settings: Settings, stream: str, event_ids: Set[str], timeout_s: float = 30.0) -> Labels:
    topic = settings.topic(stream, "labels")
    decoder = LabelBatchDecoder(open_store(settings), topic)
    wanted = pa.array(list(event_ids), pa.string())
    consumer = Consumer(
        {
            **settings.kafka_config(),
            "group.id": settings.group_id(f"scorecast.shadow-report.{uuid.uuid4()}"),  # never joined
            **RANGE_CONSUMER_CONFIG,
        }
    )
    out = Labels()
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
        if metadata is None or metadata.error is not None:
            return out
        spans = []
        for p in metadata.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)
            spans.append(Span(p, low, high))
        for batch in read_range(consumer, topic, spans, batch=5000, stall_s=timeout_s):
            decoded = decoder.decode([m.value() for m in batch.messages])
            out.read += len(batch.messages)
            out.undecodable += len(decoded.unreadable)
            mask = pc.is_in(decoded.event_ids, value_set=wanted)
            ids = decoded.event_ids.filter(mask).to_pylist()
            labels = decoded.labels[mask.to_numpy(zero_copy_only=False)].tolist()
            out.by_event.update(zip(ids, labels, strict=True))  # in read order: a later label replaces
    finally:
        consumer.close()
    return out
