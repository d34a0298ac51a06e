"""The one decoder of label records: a batch of ``<stream>.labels`` message values to columns.

Records of the current label schema (a string, an optional string, an int, a long) are decoded field by field
with numpy over the whole batch, like events (schemas.columnar), with no Python object per record; other
writer schemas go through the codec record by record, resolved to the current schema. A record that cannot be
decoded (no Confluent header, unknown schema id, malformed bytes, invalid UTF-8, a label outside int8) is
reported by position, never raised: readers count it and read on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from schemas.codec import HEADER, MAGIC, AvroCodec, plain
from schemas.columnar import PAD, varint
from schemas.errors import SchemaError
from schemas.registry import SchemaStore, expanded, schema_name

LABEL_FIELDS = (("event_id", "string"), ("entity_id", ("null", "string")), ("label", "int"), ("label_time", "long"))


@dataclass(frozen=True)
class LabelBatch:
    positions: np.ndarray  # int64: index in the input of each decoded record, increasing
    event_ids: pa.StringArray
    labels: np.ndarray  # int8
    label_times: np.ndarray  # int64 epoch ms
    unreadable: np.ndarray  # int64: index in the input of each record that could not be decoded

    def __len__(self) -> int:
        return len(self.positions)


class LabelBatchDecoder:
    def __init__(self, store: SchemaStore, topic: str) -> None:
        self.codec = AvroCodec(store, topic, schema_name("", "labels"))  # one label schema for every stream
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

    def decode(self, values: Sequence[bytes | None]) -> LabelBatch:
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
        batch = LabelBatch(rows[good], event_ids, labels, times, rows[~good])
        others = np.flatnonzero(~columnar)
        return _with(batch, self._records(blobs, others)) if len(others) else batch

    def _records(self, blobs: list[bytes], rows: np.ndarray) -> LabelBatch:
        """Other writer schemas (or garbage): fastavro record by record, resolved to the current schema."""
        kept, bad, event_ids, labels, times = [], [], [], [], []
        for i in rows.tolist():
            try:
                record = self.codec.decode(blobs[i])
                event_id, label, when = str(record["event_id"]), int(record["label"]), int(record["label_time"])
                if not -128 <= label <= 127:
                    raise ValueError(f"label {label} outside int8")
            except (SchemaError, KeyError, TypeError, ValueError):
                bad.append(i)
                continue
            kept.append(i)
            event_ids.append(event_id)
            labels.append(label)
            times.append(when)
        return LabelBatch(
            np.asarray(kept, dtype=np.int64),
            pa.array(event_ids, pa.string()),
            np.asarray(labels, dtype=np.int8),
            np.asarray(times, dtype=np.int64),
            np.asarray(bad, dtype=np.int64),
        )


def _with(a: LabelBatch, b: LabelBatch) -> LabelBatch:
    """Both batches' records, back in input order."""
    order = np.argsort(np.concatenate([a.positions, b.positions]), kind="stable")
    return LabelBatch(
        np.concatenate([a.positions, b.positions])[order],
        pa.concat_arrays([a.event_ids, b.event_ids]).take(pa.array(order)),
        np.concatenate([a.labels, b.labels])[order],
        np.concatenate([a.label_times, b.label_times])[order],
        np.sort(np.concatenate([a.unreadable, b.unreadable])),
    )


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
    strings, utf8 = _strings(buf, id_start[ok], id_end[ok])
    if not utf8.all():  # an id that is not UTF-8 makes its record unreadable, not the batch
        ok[np.flatnonzero(ok)[~utf8]] = False
        strings = strings.filter(pa.array(utf8))
    return strings, label[ok].astype(np.int8), when[ok], ok


def _strings(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[pa.Array, np.ndarray]:
    """One Arrow string array gathered from byte spans, without a Python object per string; and which spans are
    valid UTF-8 (the others are empty strings in the array)."""
    sizes = ends - starts
    bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32)
    gather = np.repeat(starts - bounds[:-1], sizes) + np.arange(int(bounds[-1]), dtype=np.int64)
    data = buf[gather]
    if not (data & 0x80).any():  # ASCII (ids usually are): valid UTF-8 by construction
        return pa.StringArray.from_buffers(len(sizes), pa.py_buffer(bounds), pa.py_buffer(data.tobytes())), (
            np.ones(len(sizes), dtype=bool)
        )
    binary = pa.BinaryArray.from_buffers(pa.binary(), len(sizes), [None, pa.py_buffer(bounds), pa.py_buffer(data)])
    utf8 = np.array([_is_utf8(v) for v in binary.to_pylist()], dtype=bool)
    cleaned = [v.decode() if ok else "" for v, ok in zip(binary.to_pylist(), utf8, strict=True)]
    return pa.array(cleaned, pa.string()), utf8


def _is_utf8(value: bytes | None) -> bool:
    try:
        (value or b"").decode()
    except UnicodeDecodeError:
        return False
    return True
