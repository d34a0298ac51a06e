"""A batch of a range's records decoded into columns: what a scan scores, and what the event cache keeps.

The decoded rows (Kafka position, ids, event time, feature matrix) and the records that could not be decoded
(position, reason, detail) of one span of offsets, with where each partition's reading stands after it. It
holds no per-event Python object: ids are Arrow string arrays, the rest numpy columns.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas.batch import DecodedBatch

REJECT_SCHEMA = pa.schema(
    [("partition", pa.int32()), ("offset", pa.int64()), ("reason", pa.string()), ("detail", pa.string())]
)


@dataclass(frozen=True)
class Decoded:
    partitions: np.ndarray  # int32, per decoded row
    offsets: np.ndarray  # int64, per decoded row
    event_ids: pa.Array  # string
    entity_ids: pa.Array  # string
    event_times: np.ndarray  # int64 epoch ms
    features: np.ndarray  # float32 (rows, features), C-contiguous, feature-spec order
    rejects: pa.Table  # REJECT_SCHEMA: the records of the span that could not be decoded
    advanced: dict[int, int]  # partition -> next offset to read after this batch

    def __len__(self) -> int:
        return len(self.offsets)

    @classmethod
    def of(
        cls, partitions: np.ndarray, offsets: np.ndarray, decoded: DecodedBatch, advanced: dict[int, int]
    ) -> Decoded:
        """The decoder's output over a batch read from Kafka (``partitions``/``offsets`` per input value)."""
        at = decoded.positions
        failed = np.array([f.position for f in decoded.failures], dtype=np.int64)
        rejects = pa.table(
            {
                "partition": pa.array(partitions[failed], pa.int32()),
                "offset": pa.array(offsets[failed], pa.int64()),
                "reason": pa.array([f.reason for f in decoded.failures], pa.string()),
                "detail": pa.array([f.detail for f in decoded.failures], pa.string()),
            },
            schema=REJECT_SCHEMA,
        )
        return cls(
            np.asarray(partitions[at], dtype=np.int32),
            np.asarray(offsets[at], dtype=np.int64),
            pa.array(decoded.event_ids, pa.string()),
            pa.array(decoded.entity_ids, pa.string()),
            decoded.event_times,
            decoded.features,
            rejects,
            advanced,
        )

    def select(self, keep: np.ndarray) -> Decoded:
        """The rows where ``keep`` is true (rejects and offsets reached unchanged)."""
        mask = pa.array(keep)
        return Decoded(
            self.partitions[keep],
            self.offsets[keep],
            self.event_ids.filter(mask),
            self.entity_ids.filter(mask),
            self.event_times[keep],
            np.ascontiguousarray(self.features[keep]),
            self.rejects,
            self.advanced,
        )

    def batches(self, partition: int, size: int) -> Iterator[Decoded]:
        """Consecutive slices of at most ``size`` rows of one partition's span, each with the rejects among its
        offsets and the offset it reaches, so a part committed after any of them covers exactly what it holds."""
        n = len(self)
        reject_offsets = self.rejects.column("offset").to_numpy()
        cuts = list(range(size, n, size))
        low = 0
        for i, start in enumerate([0, *cuts]):
            end = cuts[i] if i < len(cuts) else n
            last = i == len(cuts)
            reached = self.advanced[partition] if last else int(self.offsets[end - 1]) + 1
            high = len(reject_offsets) if last else int(np.searchsorted(reject_offsets, reached))
            yield Decoded(
                self.partitions[start:end],
                self.offsets[start:end],
                self.event_ids.slice(start, end - start),
                self.entity_ids.slice(start, end - start),
                self.event_times[start:end],
                self.features[start:end],
                self.rejects.slice(low, high - low),
                {partition: reached},
            )
            low = high


def concat(batches: list[Decoded], width: int) -> Decoded:
    """One batch of many (in order); offsets reached are the last of each partition."""
    advanced: dict[int, int] = {}
    for b in batches:
        advanced.update(b.advanced)
    if not batches:
        return empty(width, advanced)
    return Decoded(
        np.concatenate([b.partitions for b in batches]),
        np.concatenate([b.offsets for b in batches]),
        pa.concat_arrays([b.event_ids for b in batches]),
        pa.concat_arrays([b.entity_ids for b in batches]),
        np.concatenate([b.event_times for b in batches]),
        np.concatenate([b.features for b in batches]),
        pa.concat_tables([b.rejects for b in batches]).combine_chunks(),
        advanced,
    )


def empty(width: int, advanced: dict[int, int]) -> Decoded:
    return Decoded(
        np.zeros(0, np.int32), np.zeros(0, np.int64), pa.array([], pa.string()), pa.array([], pa.string()),
        np.zeros(0, np.int64), np.zeros((0, width), np.float32), REJECT_SCHEMA.empty_table(), advanced,
    )  # fmt: skip


def of_partition(batch: Decoded, partition: int, reached: int) -> Decoded:
    """The rows and rejects of one partition, reaching ``reached``."""
    rows = batch.select(batch.partitions == partition)
    rejects = batch.rejects.filter(pc.equal(batch.rejects.column("partition"), partition))
    return Decoded(rows.partitions, rows.offsets, rows.event_ids, rows.entity_ids, rows.event_times, rows.features,
                   rejects, {partition: reached})  # fmt: skip
