"""One scan process: read its partitions' ranges, score each batch through the scoring core, commit parts.

This is the replay's hot path, and it holds no per-event Python object of its own: a batch is the list of
message values, decoded by the live scorer's decoder into columns (``decoded.Decoded``: numpy, Arrow ids),
one ``ScoringCore.predict`` call (the live scorer's ONNX sessions, one contiguous float32 matrix per version)
and column appends. With an event cache (``event_cache.py``) the decoded columns of spans read before come
from there instead of Kafka and the decoder, and what is read from Kafka is kept for the next replay. Every ``flush_s``
seconds or ``flush_events`` events the buffered columns become one checkpoint part.
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa

from schemas.batch import EventBatchDecoder
from schemas.registry import open_store
from schemas.rules import EventRules
from scorecast.settings import Settings
from scorers.hot_reload import ModelLoader
from scorers.replay.checkpoint import Checkpoint
from scorers.replay.decoded import REJECT_SCHEMA, Decoded, concat, of_partition
from scorers.replay.event_cache import DEFAULT_MAX_BYTES, EventCache, Segment, decoder_fingerprint
from scorers.replay.label_cache import topic_identity
from scorers.replay.ranges import PartitionRange
from scorers.replay.reader import RangeReader
from scorers.replay.versions import PinnedVersions
from scorers.scoring import ScoringCore

VARIANT = "replay"
ENVELOPE = ("partition", "offset", "event_id", "entity_id", "event_time")


class Stop(Protocol):
    def is_set(self) -> bool: ...


def score_column(name: str, version: int) -> str:
    return f"s:{name}@{version}"


def feature_matrix(column: pa.ChunkedArray | pa.Array, width: int) -> np.ndarray:
    """The ``features`` column (fixed-size lists of float32) back as an (n, width) matrix."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    flat = array.flatten().to_numpy()
    return np.ascontiguousarray(flat.reshape(-1, width))


@dataclass(frozen=True)
class ScanJob:
    settings: Settings
    stream: str
    ranges: tuple[PartitionRange, ...]  # what is left to read, per partition
    versions: PinnedVersions
    checkpoint: Path
    batch: int = 4000
    flush_events: int = 250_000
    flush_s: float = 10.0
    event_cache: Path | None = None  # decoded event columns kept by topic range across replays (event_cache.py)
    event_cache_bytes: int = DEFAULT_MAX_BYTES


@dataclass
class ScanStats:
    events: int = 0  # offsets read
    scored: int = 0
    rejected: int = 0
    parts: int = 0
    seconds: float = 0.0


@dataclass
class PartBuffer:
    """Columns of the scored events (and rejects) since the last part, and the offsets they cover."""

    features: tuple[str, ...]
    versions: list[tuple[str, int]]
    starts: dict[int, int]  # partition -> first offset not yet in a committed part
    next: dict[int, int] = field(default_factory=dict)
    columns: dict[str, list[Any]] = field(default_factory=dict)
    rejects: dict[str, list[Any]] = field(default_factory=dict)
    rows: int = 0

    def add(self, batch: Decoded, scores: list[np.ndarray]) -> None:
        """A scored batch (its rows, one score array per version in ``versions`` order, its rejects)."""
        self.next.update(batch.advanced)
        if len(batch):
            self._append(self.columns, "partition", batch.partitions)
            self._append(self.columns, "offset", batch.offsets)
            self._append(self.columns, "event_id", batch.event_ids)
            self._append(self.columns, "entity_id", batch.entity_ids)
            self._append(self.columns, "event_time", batch.event_times)
            self._append(self.columns, "features", batch.features)
            for version, column in zip(self.versions, scores, strict=True):
                self._append(self.columns, score_column(*version), column)
            self.rows += len(batch)
        if batch.rejects.num_rows:
            for name in REJECT_SCHEMA.names:
                self._append(self.rejects, name, batch.rejects.column(name).combine_chunks())

    @staticmethod
    def _append(columns: dict[str, list[Any]], name: str, value: Any) -> None:
        columns.setdefault(name, []).append(value)

    def take(self) -> tuple[pa.Table, pa.Table | None, dict[int, tuple[int, int]]]:
        covered = {p: (self.starts[p], n) for p, n in self.next.items() if n > self.starts[p]}
        events = self._events()
        rejects = (
            pa.table({k: _concat(v) for k, v in self.rejects.items()}, schema=REJECT_SCHEMA) if self.rejects else None
        )
        self.starts.update(self.next)
        self.next, self.columns, self.rejects, self.rows = {}, {}, {}, 0
        return events, rejects, covered

    def _events(self) -> pa.Table:
        c = self.columns
        if not c:
            return part_schema(len(self.features), self.versions).empty_table()
        data: dict[str, Any] = {k: _concat(c[k]) for k in ENVELOPE}
        # One fixed-size-list column over the matrix's own buffer: no per-feature column shuffling.
        matrix = np.concatenate(c["features"])
        data["features"] = pa.FixedSizeListArray.from_arrays(pa.array(matrix.reshape(-1)), len(self.features))
        data.update({score_column(*v): _concat(c[score_column(*v)]) for v in self.versions})
        return pa.table(data, schema=part_schema(len(self.features), self.versions))


def part_schema(width: int, versions: list[tuple[str, int]]) -> pa.Schema:
    """Columns of a part: envelope, Kafka position, the feature matrix, one score column per version."""
    envelope = [("partition", pa.int32()), ("offset", pa.int64()), ("event_id", pa.string()),
                ("entity_id", pa.string()), ("event_time", pa.int64())]  # fmt: skip
    scores = [(score_column(*v), pa.float32()) for v in versions]
    return pa.schema([*envelope, ("features", pa.list_(pa.float32(), width)), *scores])


def _concat(chunks: list[Any]) -> Any:
    if isinstance(chunks[0], pa.Array):
        return pa.concat_arrays(chunks)
    return np.concatenate(chunks)


def score(batch: Decoded, models: list[Any]) -> tuple[Decoded, list[np.ndarray]]:
    """Score a decoded batch with every version through the scoring core; a row any version scores non-finite
    becomes a ``non-finite-score`` reject, as in the live scorer."""
    if not len(batch):
        return batch, [np.zeros(0, np.float32) for _ in models]
    outputs, keep = ScoringCore.predict(batch.features, models)
    scores = [s for _, s, _ in outputs]
    if keep.all():
        return batch, scores
    bad = ~keep
    failed = pa.table(
        {
            "partition": pa.array(batch.partitions[bad], pa.int32()),
            "offset": pa.array(batch.offsets[bad], pa.int64()),
            "reason": pa.array(["non-finite-score"] * int(bad.sum()), pa.string()),
            "detail": pa.array(["a model returned NaN or inf"] * int(bad.sum()), pa.string()),
        },
        schema=REJECT_SCHEMA,
    )
    kept = dataclasses.replace(batch.select(keep), rejects=pa.concat_tables([batch.rejects, failed]))
    return kept, [s[keep] for s in scores]


class CacheWriter:
    """The decoded batches read from Kafka since the last store, kept in the event cache as one chunk per
    partition span (every record of it) once ``limit`` rows are held or the reading of a round ends."""

    def __init__(self, cache: EventCache, width: int, limit: int) -> None:
        self._cache, self._width, self._limit = cache, width, limit
        self._starts: dict[int, int] = {}
        self._next: dict[int, int] = {}
        self._batches: list[Decoded] = []
        self._rows = 0

    def begin(self, spans: list[PartitionRange]) -> None:
        self._starts = {s.partition: s.start for s in spans}
        self._next = dict(self._starts)

    def add(self, batch: Decoded) -> None:
        self._batches.append(batch)
        self._next.update(batch.advanced)
        self._rows += len(batch)
        if self._rows >= self._limit:
            self.store()

    def store(self) -> None:
        batch = concat(self._batches, self._width)
        for partition, reached in self._next.items():
            start = self._starts[partition]
            if reached > start:
                chunk = of_partition(batch, partition, reached)
                self._cache.store(PartitionRange(partition, start, reached), chunk)
        self._starts = dict(self._next)
        self._batches, self._rows = [], 0


def open_event_cache(job: ScanJob, decoder: EventBatchDecoder) -> EventCache | None:
    if job.event_cache is None:
        return None
    topic = job.settings.topic(job.stream, "events")
    identity = topic_identity(job.settings, topic)
    if identity is None:
        return None
    fingerprint = decoder_fingerprint(decoder)
    return EventCache(job.event_cache, identity[0], topic, identity[1], fingerprint, len(decoder.spec),
                      job.event_cache_bytes)  # fmt: skip


def scan(job: ScanJob, progress: Callable[[int], None], stop: Stop) -> ScanStats:
    """Score ``job.ranges`` into checkpoint parts until done or ``stop`` is set (then the buffer is committed).

    With an event cache, each partition's range is cut into cached chunks and gaps; a round scores every
    partition's cached chunks up to its next gap, then reads those gaps (one per partition) from Kafka together
    and keeps what it decoded. Each partition is scanned in offset order, so every part covers one span."""
    started = time.perf_counter()
    store = open_store(job.settings)
    topic = job.settings.topic(job.stream, "events")
    decoder = EventBatchDecoder(store, job.stream, topic, EventRules.of(job.settings))
    loader = ModelLoader(job.versions, job.settings, job.stream)
    models = [loader.load(name, version) for name, version in job.versions.keys]
    checkpoint = Checkpoint(job.checkpoint)
    width = len(decoder.spec)
    buffer = PartBuffer(decoder.spec.names, job.versions.keys, {r.partition: r.start for r in job.ranges})
    stats = ScanStats()
    cache = open_event_cache(job, decoder)
    writer = None if cache is None else CacheWriter(cache, width, job.flush_events)
    last_flush = time.monotonic()

    def flush() -> None:
        events, rejects, covered = buffer.take()
        if covered:
            checkpoint.commit(events, rejects, covered)
            stats.parts += 1

    def handle(batch: Decoded) -> None:
        nonlocal last_flush
        before = {p: buffer.next.get(p, buffer.starts[p]) for p in batch.advanced}
        kept, scores = score(batch, models)  # an empty batch only moves offsets (end of partition)
        buffer.add(kept, scores)
        read = sum(n - before[p] for p, n in batch.advanced.items())
        stats.events += read
        stats.scored += len(kept)
        stats.rejected += len(batch) + batch.rejects.num_rows - len(kept)
        progress(read)
        if buffer.rows >= job.flush_events or time.monotonic() - last_flush >= job.flush_s:
            flush()
            last_flush = time.monotonic()

    pending = {
        r.partition: deque(cache.segments(r) if cache is not None else [Segment(r, None)])
        for r in job.ranges
        if r.events > 0
    }
    while pending and not stop.is_set():
        gaps: list[PartitionRange] = []
        for partition, segments in list(pending.items()):
            while segments and not stop.is_set():
                segment = segments.popleft()
                chunk = None if segment.path is None or cache is None else cache.read(segment)
                if chunk is None:  # not cached, or its file was unreadable: read it from Kafka this round
                    gaps.append(segment.span)
                    break
                for batch in chunk.batches(partition, job.batch):
                    handle(batch)
            if not segments:
                del pending[partition]
        if gaps and not stop.is_set():
            if writer is not None:
                writer.begin(gaps)
            for raw in RangeReader(job.settings, topic, tuple(gaps), job.batch):
                batch = Decoded.of(raw.partitions, raw.offsets, decoder.decode(raw.values), raw.advanced)
                if writer is not None:
                    writer.add(batch)
                handle(batch)
                if stop.is_set():
                    break
            if writer is not None:
                writer.store()
    flush()
    stats.seconds = time.perf_counter() - started
    return stats
