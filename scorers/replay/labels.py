"""Late labels of a replayed range: read, decoded column-wise, deduplicated and joined by event id.

The label horizon ``H`` (default 7 days) defines which ground truth a backtest sees. Labels are read from
``<stream>.labels`` from the range's first record time (labels come after their events) up to the offsets
whose record time passes the range's last record time + ``H`` (or the topic's end when the replay started).
An event's label is the FIRST label of its event id (earliest ``label_time``, then topic position); it counts
only if ``label_time <= event_time + H``. Events without such a label get a null label and stay out of the
labelled metrics. Records of the current label schema are decoded column-wise (a label record is a string,
an optional string, two varints); other writer schemas go through the codec record by record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas.codec import HEADER, MAGIC, AvroCodec, plain
from schemas.columnar import PAD
from schemas.columnar import _varint as varint  # the shared vectorised varint reader
from schemas.errors import SchemaError
from schemas.registry import SchemaStore, expanded
from scorers.replay.ranges import PartitionRange, TopicView

DEFAULT_HORIZON_MS = 7 * 86_400_000
LABEL_FIELDS = (("event_id", "string"), ("entity_id", ("null", "string")), ("label", "int"), ("label_time", "long"))
LABEL_SCHEMA = pa.schema(
    [("event_id", pa.string()), ("label", pa.int8()), ("label_time", pa.int64()),
     ("partition", pa.int32()), ("offset", pa.int64())]
)  # fmt: skip


def label_ranges(view: TopicView, start_ms: int, end_ms: int) -> tuple[PartitionRange, ...]:
    """Offsets of the labels topic whose record time lies in ``[start_ms, end_ms)``, capped at today's end."""
    starts = view.offsets_for_time(start_ms)
    ends = view.offsets_for_time(end_ms)
    ranges = []
    for p in view.partitions():
        low, high = view.watermarks(p)
        start = starts[p] if starts.get(p, -1) >= 0 else high
        end = ends[p] if ends.get(p, -1) >= 0 else high
        ranges.append(PartitionRange(p, max(start, low), max(end, start, low)))
    return tuple(ranges)


@dataclass
class LabelColumns:
    event_ids: list[pa.Array] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)
    times: list[np.ndarray] = field(default_factory=list)
    partitions: list[np.ndarray] = field(default_factory=list)
    offsets: list[np.ndarray] = field(default_factory=list)
    unreadable: int = 0  # label records that could not be decoded (counted and reported, never joined)

    def table(self) -> pa.Table:
        if not self.labels:
            return LABEL_SCHEMA.empty_table()
        arrays = [pa.concat_arrays(self.event_ids)] + [
            pa.array(np.concatenate(c)) for c in (self.labels, self.times, self.partitions, self.offsets)
        ]
        return pa.Table.from_arrays(arrays, schema=LABEL_SCHEMA)


class LabelDecoder:
    def __init__(self, store: SchemaStore, topic: str) -> None:
        self.codec = AvroCodec(store, topic, "labels")
        self._columnar: dict[int, bool] = {}

    def _is_columnar(self, schema_id: int) -> bool:
        if schema_id not in self._columnar:
            try:
                writer = expanded(plain(self.codec.store.by_id(schema_id)))
                layout = tuple((f["name"], _type(f["type"])) for f in writer["fields"])
            except (SchemaError, KeyError, TypeError):
                layout = ()
            self._columnar[schema_id] = layout == LABEL_FIELDS
        return self._columnar[schema_id]

    def add(
        self, out: LabelColumns, values: Sequence[bytes | None], partitions: np.ndarray, offsets: np.ndarray
    ) -> None:
        blobs = [v or b"" for v in values]
        lengths = np.fromiter(map(len, blobs), dtype=np.int64, count=len(blobs))
        ends = np.cumsum(lengths)
        starts = ends - lengths
        buf = np.frombuffer(b"".join(blobs) + bytes(PAD), dtype=np.uint8)
        ok = (lengths >= HEADER.size) & (buf[np.minimum(starts, len(buf) - 1)] == MAGIC)
        ids = np.zeros(len(blobs), dtype=np.int64)
        for k in range(1, 5):
            ids = (ids << 8) | buf[np.minimum(starts + k, len(buf) - 1)].astype(np.int64)
        columnar = ok & np.isin(ids, [i for i in np.unique(ids[ok]).tolist() if self._is_columnar(i)])
        rows = np.flatnonzero(columnar)
        event_ids, labels, times, good = _decode(buf, starts[rows] + HEADER.size, ends[rows])
        out.event_ids.append(event_ids)
        out.labels.append(labels)
        out.times.append(times)
        out.partitions.append(partitions[rows[good]])
        out.offsets.append(offsets[rows[good]])
        out.unreadable += int((~good).sum())
        self._add_records(out, blobs, np.flatnonzero(~columnar), partitions, offsets)

    def _add_records(
        self, out: LabelColumns, blobs: list[bytes], rows: np.ndarray, partitions: np.ndarray, offsets: np.ndarray
    ) -> None:
        """Other writer schemas (or garbage): fastavro record by record, resolved to the current schema."""
        kept, event_ids, labels, times = [], [], [], []
        for i in rows.tolist():
            try:
                record = self.codec.decode(blobs[i])
                label, when = int(record["label"]), int(record["label_time"])
            except (SchemaError, KeyError, TypeError, ValueError):
                out.unreadable += 1
                continue
            kept.append(i)
            event_ids.append(str(record["event_id"]))
            labels.append(label)
            times.append(when)
        if kept:
            out.event_ids.append(pa.array(event_ids, pa.string()))
            out.labels.append(np.asarray(labels, dtype=np.int8))
            out.times.append(np.asarray(times, dtype=np.int64))
            out.partitions.append(partitions[kept])
            out.offsets.append(offsets[kept])


def _type(avro_type: object) -> object:
    if isinstance(avro_type, dict):
        return avro_type["type"]
    return tuple(avro_type) if isinstance(avro_type, list) else avro_type


def _decode(buf: np.ndarray, pos: np.ndarray, ends: np.ndarray) -> tuple[pa.Array, np.ndarray, np.ndarray, np.ndarray]:
    """Label bodies ``buf[pos:ends]`` -> (event ids of the good ones, labels, label times, good mask)."""
    size, pos, ok = varint(buf, pos)
    ok &= (size >= 0) & (pos + size <= ends)
    id_start, id_end = pos, pos + np.maximum(size, 0)
    branch, pos, well = varint(buf, np.minimum(id_end, ends))
    ok &= well & ((branch == 0) | (branch == 1))
    entity_size, after, well = varint(buf, pos)
    has_entity = branch == 1
    ok &= ~has_entity | (well & (entity_size >= 0))
    pos = np.where(has_entity, after + np.maximum(entity_size, 0), pos)
    label, pos, well = varint(buf, np.minimum(pos, ends))
    ok &= well & (label >= np.iinfo(np.int8).min) & (label <= np.iinfo(np.int8).max)
    when, pos, well = varint(buf, np.minimum(pos, ends))
    ok &= well & (pos == ends)
    return _strings(buf, id_start[ok], id_end[ok]), label[ok].astype(np.int8), when[ok], ok


def _strings(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> pa.Array:
    """One Arrow string array gathered from byte spans, without a Python object per string."""
    sizes = ends - starts
    bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32)
    gather = np.repeat(starts - bounds[:-1], sizes) + np.arange(int(bounds[-1]), dtype=np.int64)
    array = pa.StringArray.from_buffers(len(sizes), pa.py_buffer(bounds), pa.py_buffer(buf[gather].tobytes()))
    array.validate(full=True)  # invalid UTF-8 would surface here, not later in a join
    return array


def in_arrival_order(table: pa.Table) -> pa.Table:
    """Labels by label_time, then topic position: the first label of an event id comes first."""
    order = np.lexsort((table.column("offset").to_numpy(), table.column("partition").to_numpy(),
                        table.column("label_time").to_numpy()))  # fmt: skip
    return table.take(order)


def join_labels(
    event_ids: pa.Array, event_times: np.ndarray, labels: pa.Table, horizon_ms: int
) -> tuple[np.ndarray, np.ndarray]:
    """(label per event as int8, known mask): the event's first label, if it came within the horizon."""
    if labels.num_rows == 0:
        return np.zeros(len(event_ids), dtype=np.int8), np.zeros(len(event_ids), dtype=bool)
    ids = labels.column("event_id").combine_chunks()
    if len(pc.unique(ids)) < len(ids):  # duplicates (producer retries, corrections): earliest first
        labels = in_arrival_order(labels)
        ids = labels.column("event_id").combine_chunks()
    # A hash lookup that answers the FIRST match in the value set: with labels in arrival order, the first label.
    index = pc.index_in(event_ids, value_set=ids)
    at = index.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    found = at >= 0
    label = labels.column("label").to_numpy()[np.maximum(at, 0)]
    label_time = labels.column("label_time").to_numpy()[np.maximum(at, 0)]
    known = found & (label_time <= event_times + horizon_ms)
    return np.where(known, label, 0).astype(np.int8), known
