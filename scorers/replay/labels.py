"""Late labels of a replayed range: read, decoded column-wise, deduplicated and joined by event id.

The label horizon ``H`` (default 7 days) defines which ground truth a backtest sees. Labels are read from
``<stream>.labels`` from the range's first record time (labels come after their events) up to the offsets
whose record time passes the range's last record time + ``H`` (or the topic's end when the replay started).
An event's label is the FIRST label of its event id (earliest ``label_time``, then topic position); it counts
only if ``label_time <= event_time + H``. Events without such a label get a null label and stay out of the
labelled metrics. Label records are decoded by the shared label decoder (schemas.label_batch).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas.label_batch import LabelBatchDecoder
from schemas.registry import SchemaStore
from scorers.replay.ranges import PartitionRange, TopicView

DEFAULT_HORIZON_MS = 7 * 86_400_000
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
    """Label rows gathered batch by batch (or from the cache); a record that could not be decoded is a row
    without an event id, so it stays counted (and reported) but is never joined."""

    parts: list[pa.Table] = field(default_factory=list)

    def add(self, rows: pa.Table) -> None:
        self.parts.append(rows)

    def rows(self) -> pa.Table:
        return pa.concat_tables(self.parts) if self.parts else LABEL_SCHEMA.empty_table()

    def table(self) -> pa.Table:
        rows = self.rows().combine_chunks()
        if rows.column("event_id").null_count == 0:
            return rows
        return rows.filter(pc.is_valid(rows.column("event_id")))

    @property
    def unreadable(self) -> int:
        return sum(part.column("event_id").null_count for part in self.parts)


class LabelDecoder:
    """The shared label decoder (schemas.label_batch), its batches turned into rows with their Kafka positions."""

    def __init__(self, store: SchemaStore, topic: str) -> None:
        self._decoder = LabelBatchDecoder(store, topic)

    def rows(self, values: Sequence[bytes | None], partitions: np.ndarray, offsets: np.ndarray) -> pa.Table:
        """One batch's records as rows in input order (unreadable ones without an event id)."""
        batch = self._decoder.decode(values)
        at, event_ids = batch.positions, batch.event_ids
        labels, times = batch.labels, batch.label_times
        if len(batch.unreadable):
            order = np.argsort(np.concatenate([at, batch.unreadable]), kind="stable")
            none = len(batch.unreadable)
            at = np.concatenate([at, batch.unreadable])[order]
            event_ids = pa.concat_arrays([event_ids, pa.nulls(none, pa.string())]).take(pa.array(order))
            labels = np.concatenate([labels, np.zeros(none, dtype=np.int8)])[order]
            times = np.concatenate([times, np.zeros(none, dtype=np.int64)])[order]
        arrays = [event_ids, pa.array(labels), pa.array(times), pa.array(partitions[at]), pa.array(offsets[at])]
        return pa.Table.from_arrays(arrays, schema=LABEL_SCHEMA)

    def add(
        self, out: LabelColumns, values: Sequence[bytes | None], partitions: np.ndarray, offsets: np.ndarray
    ) -> None:
        out.add(self.rows(values, partitions, offsets))


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
