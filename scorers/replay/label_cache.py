"""Decoded labels kept by topic range, so replays of the same or overlapping ranges read each label record from
Kafka once.

Reading and decoding the labels cost about as much CPU as reading the events (~3 us per label against a
replay's ~10-20 us per event), and backtests are run again and again over the same weeks. A Kafka record at
an offset never changes, so the decoded records of ``[start, end)`` of a partition stay true for as long as
the topic exists: a chunk file holds exactly the records of such a span (unreadable ones as rows without an
event id, so they stay counted), and a replay reads from Kafka only the spans no chunk covers, then adds them
as chunks. Chunks are keyed by the cluster id and the topic's id, not only its name: a topic deleted and
created again under the same name starts a new key. A chunk that cannot be read is dropped and read again.
Files are written beside and renamed into place, so concurrent replays at worst read a span twice.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
from confluent_kafka import KafkaError, KafkaException, TopicCollection
from confluent_kafka.admin import AdminClient
from pyarrow import feather

from scorecast.settings import Settings
from scorers.replay.ranges import PartitionRange

log = logging.getLogger(__name__)
FORMAT = "v1"


def default_root() -> Path:
    """The per-user cache folder (``$XDG_CACHE_HOME/scorecast/replay-labels``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "scorecast" / "replay-labels"


def topic_identity(
    settings: Settings, topic: str, timeout_s: float = 10.0, attempts: int = 3
) -> tuple[str, str] | None:
    """(cluster id, topic id), or None where the cluster does not say (then nothing of the topic is cached: its
    records are read from Kafka). A retriable error (a broker busy or electing) is asked again, up to
    ``attempts`` times: caching is not given up over a moment's hiccup."""
    admin = AdminClient(settings.kafka_config())
    for attempt in range(1, attempts + 1):
        try:
            cluster = admin.list_topics(topic, timeout=timeout_s).cluster_id
            described = admin.describe_topics(TopicCollection([topic]), request_timeout=timeout_s)[topic].result()
            break
        except KafkaException as error:
            if (
                attempt < attempts
                and error.args
                and isinstance(error.args[0], KafkaError)
                and error.args[0].retriable()
            ):
                time.sleep(0.2 * attempt)
                continue
            log.warning("records of %s are not cached (read from Kafka instead): %s", topic, error)
            return None
    if not cluster or described.topic_id is None:
        log.warning("records of %s are not cached: the cluster gives no cluster or topic id", topic)
        return None
    return str(cluster), str(described.topic_id)


@dataclass(frozen=True)
class Chunk:
    partition: int
    start: int
    end: int
    path: Path


class LabelCache:
    """Label rows (schema of ``labels.LABEL_SCHEMA``, ``event_id`` null where unreadable) of one topic by span."""

    def __init__(self, root: Path, cluster_id: str, topic: str, topic_id: str) -> None:
        self.directory = root / FORMAT / cluster_id / topic / topic_id

    def _chunks(self, partition: int) -> list[Chunk]:
        folder = self.directory / str(partition)
        chunks = []
        for path in folder.glob("*.arrow") if folder.is_dir() else ():
            start, _, end = path.stem.partition("-")
            if start.isdigit() and end.split(".")[0].isdigit():
                chunks.append(Chunk(partition, int(start), int(end.split(".")[0]), path))
        return sorted(chunks, key=lambda c: (c.start, -c.end))

    def lookup(self, ranges: tuple[PartitionRange, ...]) -> tuple[list[pa.Table], list[PartitionRange]]:
        """(the cached rows within ``ranges``, the spans no chunk covers: to be read from Kafka)."""
        found: list[pa.Table] = []
        gaps: list[PartitionRange] = []
        for r in ranges:
            at = r.start
            for chunk in self._chunks(r.partition):
                if at >= r.end:
                    break
                if chunk.end <= at:
                    continue
                if chunk.start > at:
                    gaps.append(PartitionRange(r.partition, at, min(chunk.start, r.end)))
                    at = min(chunk.start, r.end)
                    if at >= r.end:
                        break
                rows = self._read(chunk)
                if rows is None:
                    continue  # unreadable: its span stays a gap unless a later chunk covers it
                found.append(_within(rows, at, min(chunk.end, r.end)))
                at = min(chunk.end, r.end)
            if at < r.end:
                gaps.append(PartitionRange(r.partition, at, r.end))
        return found, gaps

    @staticmethod
    def _read(chunk: Chunk) -> pa.Table | None:
        try:
            return feather.read_table(chunk.path, memory_map=True)
        except (OSError, pa.ArrowInvalid) as error:
            log.warning("dropping unreadable label cache file %s (%s)", chunk.path, error)
            chunk.path.unlink(missing_ok=True)
            return None

    def store(self, span: PartitionRange, rows: pa.Table) -> None:
        """Keep ``rows``, every record of ``span`` (one partition) in offset order."""
        folder = self.directory / str(span.partition)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{span.start:020d}-{span.end:020d}.arrow"
        tmp = folder / f".{path.name}.{uuid.uuid4().hex}.tmp"
        feather.write_feather(rows, tmp, compression="uncompressed")
        os.replace(tmp, path)


def _within(rows: pa.Table, start: int, end: int) -> pa.Table:
    """The rows with offsets in ``[start, end)`` (rows are in offset order)."""
    offsets = rows.column("offset").to_numpy()
    low, high = np.searchsorted(offsets, [start, end])
    return rows.slice(int(low), int(high - low))
