"""Decoded event columns kept by topic range, so a backtest of several versions over the same weeks reads and
decodes each event once and then runs at the models' speed.

Reading an event from Kafka and decoding it cost ~3.5 us of CPU, as much as scoring it with the LightGBM
example and twice the MLP. A record at an offset never changes, so the decoded columns of ``[start, end)`` of a
partition stay true while the topic exists and the stream's reader schema is the same. A chunk file holds
exactly one such span: its decoded rows, then its undecodable records (reason and detail, so they stay
rejected), with the span, the decoder fingerprint and the row counts in its metadata. The folder is keyed like
the label cache (cluster id, topic id, partition, offsets: a topic created again under the same name shares
nothing) plus the decoder's fingerprint (the reader schema and this format), so a changed schema reads again.
A span with a verdict that may change later (a schema id not registered yet, an event time beyond now + skew)
is not kept. A chunk that cannot be read or does not match its name is deleted and its span read again.
Files are written beside and renamed into place; the folder is kept under a size bound by deleting the chunks
used least recently.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
from pyarrow import feather

from schemas.batch import EventBatchDecoder
from schemas.rules import EVENT_TIME_OUT_OF_RANGE
from scorers.replay.decoded import REJECT_SCHEMA, Decoded
from scorers.replay.ranges import PartitionRange

log = logging.getLogger(__name__)
FORMAT = "v1"
DEFAULT_MAX_BYTES = 4 << 30
# Verdicts that a later replay may reach differently: the schema may be registered by then, the time may pass.
UNSTABLE_REASONS = frozenset({"unknown-schema-id", EVENT_TIME_OUT_OF_RANGE})


def default_root() -> Path:
    """The per-user cache folder (``$XDG_CACHE_HOME/scorecast/replay-events``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "scorecast" / "replay-events"


def decoder_fingerprint(decoder: EventBatchDecoder) -> str:
    """What decoding depends on besides the bytes: the stream's reader schema and this cache's format."""
    text = json.dumps({"format": FORMAT, "reader": decoder.codec.raw_schema}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Segment:
    """A span of one partition, found in the cache (``path``) or not (to be read from Kafka)."""

    span: PartitionRange
    path: Path | None


class EventCache:
    def __init__(
        self, root: Path, cluster_id: str, topic: str, topic_id: str, fingerprint: str, width: int,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:  # fmt: skip
        self.root = root / FORMAT
        self.directory = self.root / cluster_id / topic / topic_id / fingerprint
        self._width = width
        self._fingerprint = fingerprint
        self._max_bytes = max_bytes

    def segments(self, r: PartitionRange) -> list[Segment]:
        """``r`` cut into cached chunks and gaps, in offset order."""
        found: list[Segment] = []
        at = r.start
        for start, end, path in self._chunks(r.partition):
            if at >= r.end:
                break
            if end <= at:
                continue
            if start > at:
                found.append(Segment(PartitionRange(r.partition, at, min(start, r.end)), None))
                at = min(start, r.end)
                if at >= r.end:
                    break
            found.append(Segment(PartitionRange(r.partition, at, min(end, r.end)), path))
            at = min(end, r.end)
        if at < r.end:
            found.append(Segment(PartitionRange(r.partition, at, r.end), None))
        return found

    def _chunks(self, partition: int) -> list[tuple[int, int, Path]]:
        folder = self.directory / str(partition)
        chunks = []
        for path in folder.glob("*.arrow") if folder.is_dir() else ():
            start, _, end = path.stem.partition("-")
            if start.isdigit() and end.isdigit() and int(start) < int(end):
                chunks.append((int(start), int(end), path))
        return sorted(chunks, key=lambda c: (c[0], -c[1]))

    def read(self, segment: Segment) -> Decoded | None:
        """The decoded records of ``segment`` (a cached one), or None if its file is unreadable (then deleted)."""
        assert segment.path is not None
        span = segment.span
        try:
            table = feather.read_table(segment.path, memory_map=True)
            chunk = self._check(segment.path, table)
        except (OSError, pa.ArrowInvalid, ValueError, KeyError) as error:
            log.warning("dropping unreadable event cache file %s (%s)", segment.path, error)
            segment.path.unlink(missing_ok=True)
            return None
        os.utime(segment.path)  # recently used: evicted last
        return _within(chunk, span)

    def _check(self, path: Path, table: pa.Table) -> Decoded:
        meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
        partition, start, end = int(path.parent.name), *map(int, path.stem.split("-"))
        expected = {"format": FORMAT, "fingerprint": self._fingerprint, "partition": str(partition),
                    "start": str(start), "end": str(end)}  # fmt: skip
        if any(meta.get(k) != v for k, v in expected.items()):
            raise ValueError(f"metadata {meta} is not that of the span's file")
        decoded = int(meta["decoded"])
        if decoded > table.num_rows or table.num_rows > end - start:
            raise ValueError(f"{table.num_rows} rows, {decoded} decoded, for {end - start} offsets")
        offsets = table.column("offset").to_numpy()
        rows, rejected = offsets[:decoded], offsets[decoded:]
        for part in (rows, rejected):
            if len(part) and (part[0] < start or part[-1] >= end or np.any(np.diff(part) <= 0)):
                raise ValueError("offsets out of the span or out of order")
        features = table.column("features").combine_chunks().flatten().to_numpy()
        if features.shape != (table.num_rows * self._width,):
            raise ValueError("feature matrix of another width")
        head, tail = table.slice(0, decoded), table.slice(decoded)
        return Decoded(
            np.full(decoded, partition, dtype=np.int32),
            rows,
            head.column("event_id").combine_chunks(),
            head.column("entity_id").combine_chunks(),
            head.column("event_time").to_numpy(),
            features[: decoded * self._width].reshape(decoded, self._width),
            pa.table(
                {
                    "partition": pa.array(np.full(len(rejected), partition, dtype=np.int32)),
                    "offset": pa.array(rejected),
                    "reason": tail.column("reason").combine_chunks(),
                    "detail": tail.column("detail").combine_chunks(),
                },
                schema=REJECT_SCHEMA,
            ),
            {partition: end},
        )

    def store(self, span: PartitionRange, chunk: Decoded) -> bool:
        """Keep ``chunk``, every record of ``span`` decoded; False where a verdict in it may change later."""
        reasons = set(chunk.rejects.column("reason").to_pylist())
        if reasons & UNSTABLE_REASONS:
            return False
        folder = self.directory / str(span.partition)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{span.start:020d}-{span.end:020d}.arrow"
        tmp = folder / f".{path.name}.{uuid.uuid4().hex}.tmp"
        try:
            feather.write_feather(_table(span, chunk, self._fingerprint), tmp, compression="uncompressed")
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        self._evict()
        return True

    def _evict(self) -> None:
        """Delete the least recently used chunks (of any topic) while the cache holds more than its bound."""
        files = []
        for path in self.root.rglob("*.arrow"):
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue  # deleted meanwhile by another replay
            files.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in files)
        for _, size, path in sorted(files):
            if total <= self._max_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size


def _table(span: PartitionRange, chunk: Decoded, fingerprint: str) -> pa.Table:
    """Decoded rows, then rejects (zero features), in offset order each; the span and counts as metadata."""
    rejects = chunk.rejects.sort_by("offset")
    n, width = len(chunk), chunk.features.shape[1]
    features = np.concatenate([chunk.features, np.zeros((rejects.num_rows, width), dtype=np.float32)])
    meta = {"format": FORMAT, "fingerprint": fingerprint, "partition": str(span.partition),
            "start": str(span.start), "end": str(span.end), "decoded": str(n)}  # fmt: skip
    none = pa.nulls(rejects.num_rows, pa.string())
    return pa.table(
        {
            "offset": np.concatenate([chunk.offsets, rejects.column("offset").to_numpy()]),
            "event_id": pa.concat_arrays([chunk.event_ids, none]),
            "entity_id": pa.concat_arrays([chunk.entity_ids, none]),
            "event_time": np.concatenate([chunk.event_times, np.zeros(rejects.num_rows, dtype=np.int64)]),
            "features": pa.FixedSizeListArray.from_arrays(pa.array(features.reshape(-1)), width),
            "reason": pa.concat_arrays([pa.nulls(n, pa.string()), rejects.column("reason").combine_chunks()]),
            "detail": pa.concat_arrays([pa.nulls(n, pa.string()), rejects.column("detail").combine_chunks()]),
        }
    ).replace_schema_metadata(meta)


def _within(chunk: Decoded, span: PartitionRange) -> Decoded:
    """The records of ``chunk`` with offsets in ``span``, reaching ``span.end``."""
    low, high = np.searchsorted(chunk.offsets, [span.start, span.end])
    keep = np.zeros(len(chunk), dtype=bool)
    keep[low:high] = True
    offsets = chunk.rejects.column("offset").to_numpy()
    a, b = np.searchsorted(offsets, [span.start, span.end])
    if low == 0 and high == len(chunk) and a == 0 and b == len(offsets):
        return Decoded(chunk.partitions, chunk.offsets, chunk.event_ids, chunk.entity_ids, chunk.event_times,
                       chunk.features, chunk.rejects, {span.partition: span.end})  # fmt: skip
    inner = chunk.select(keep)
    return Decoded(inner.partitions, inner.offsets, inner.event_ids, inner.entity_ids, inner.event_times,
                   inner.features, chunk.rejects.slice(int(a), int(b - a)), {span.partition: span.end})  # fmt: skip
