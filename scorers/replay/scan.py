"""One scan process: read its partitions' ranges, score each batch through the scoring core, commit parts.

This is the replay's hot path, and it holds no per-event Python object of its own: a batch is the list of
message values, numpy columns of partitions and offsets, one ``ScoringCore.score`` call (the live scorer's
decoder and ONNX sessions, one contiguous float32 matrix per version) and column appends. Every ``flush_s``
seconds or ``flush_events`` events the buffered columns become one checkpoint part.
"""

from __future__ import annotations

import time
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
from scorers.replay.ranges import PartitionRange
from scorers.replay.reader import RangeReader, RawBatch
from scorers.replay.versions import PinnedVersions
from scorers.scoring import ScoredBatch, ScoringCore

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

    def add(self, raw: RawBatch, scored: ScoredBatch) -> None:
        self.next.update(raw.advanced)
        if len(scored.events):
            at = scored.positions
            events = scored.events
            self._append(self.columns, "partition", raw.partitions[at])
            self._append(self.columns, "offset", raw.offsets[at])
            self._append(self.columns, "event_id", pa.array(events.event_ids, pa.string()))
            self._append(self.columns, "entity_id", pa.array(events.entity_ids, pa.string()))
            self._append(self.columns, "event_time", events.event_times)
            self._append(self.columns, "features", events.features)
            for result in scored.results:
                self._append(self.columns, score_column(result.rows.model, result.rows.version), result.rows.scores)
            self.rows += len(events)
        if scored.rejects:
            at = np.array([r.position for r in scored.rejects], dtype=np.int64)
            self._append(self.rejects, "partition", raw.partitions[at])
            self._append(self.rejects, "offset", raw.offsets[at])
            self._append(self.rejects, "reason", pa.array([r.reason for r in scored.rejects], pa.string()))
            self._append(self.rejects, "detail", pa.array([r.detail for r in scored.rejects], pa.string()))

    @staticmethod
    def _append(columns: dict[str, list[Any]], name: str, value: Any) -> None:
        columns.setdefault(name, []).append(value)

    def take(self) -> tuple[pa.Table, pa.Table | None, dict[int, tuple[int, int]]]:
        covered = {p: (self.starts[p], n) for p, n in self.next.items() if n > self.starts[p]}
        events = self._events()
        rejects = pa.table({k: _concat(v) for k, v in self.rejects.items()}) if self.rejects else None
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


def scan(job: ScanJob, progress: Callable[[int], None], stop: Stop) -> ScanStats:
    """Score ``job.ranges`` into checkpoint parts until done or ``stop`` is set (then the buffer is committed)."""
    started = time.perf_counter()
    store = open_store(job.settings)
    topic = job.settings.topic(job.stream, "events")
    core = ScoringCore(EventBatchDecoder(store, job.stream, topic, EventRules.of(job.settings)))
    loader = ModelLoader(job.versions, job.settings, job.stream)
    models = [loader.load(name, version) for name, version in job.versions.keys]
    checkpoint = Checkpoint(job.checkpoint)
    buffer = PartBuffer(core.decoder.spec.names, job.versions.keys, {r.partition: r.start for r in job.ranges})
    stats = ScanStats()
    reader = RangeReader(job.settings, job.settings.topic(job.stream, "events"), job.ranges, job.batch)
    last_flush = time.monotonic()

    def flush() -> None:
        events, rejects, covered = buffer.take()
        if covered:
            checkpoint.commit(events, rejects, covered)
            stats.parts += 1

    for raw in reader:
        before = {p: buffer.next.get(p, buffer.starts[p]) for p in raw.advanced}
        scored = core.score(raw.values, models, VARIANT)  # an empty batch only moves offsets (end of partition)
        buffer.add(raw, scored)
        read = sum(n - before[p] for p, n in raw.advanced.items())
        stats.events += read
        stats.scored += len(scored.events)
        stats.rejected += len(scored.rejects)
        progress(read)
        if buffer.rows >= job.flush_events or time.monotonic() - last_flush >= job.flush_s:
            flush()
            last_flush = time.monotonic()
        if stop.is_set():
            break
    flush()
    stats.seconds = time.perf_counter() - started
    return stats
