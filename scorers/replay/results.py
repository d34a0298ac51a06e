"""The merged outcome of a replay: every committed part in (partition, offset) order, with its labels.

``results.parquet`` has one row per (event, version): event_id, entity_id, event_time, partition, offset,
model, version, score, label (null when no label came within the horizon), sorted by model, version,
partition and offset, so the same range and versions always give the same file. Rejected events (that the
live scorer would dead-letter) go to ``<results>.rejects.parquet`` with their reason. Nothing here writes to
Kafka or to the live Cassandra tables.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from scorers.replay.checkpoint import Checkpoint
from scorers.replay.errors import ReplayError
from scorers.replay.labels import join_labels
from scorers.replay.scan import feature_matrix, score_column


@dataclass(frozen=True)
class Backtest:
    """The replayed events as columns, in (partition, offset) order: what metrics and the report read."""

    event_times: np.ndarray  # int64 epoch ms (payload event time)
    features: np.ndarray  # float32 (n, features), spec order
    feature_names: tuple[str, ...]
    scores: dict[tuple[str, int], np.ndarray]  # float32 per version
    labels: np.ndarray  # int8, valid where ``known``
    known: np.ndarray  # bool: a label came within the horizon
    rejects: dict[str, int] = field(default_factory=dict)  # reason -> events rejected
    unreadable_labels: int = 0

    def __len__(self) -> int:
        return len(self.event_times)


def merge(
    checkpoint: Checkpoint,
    feature_names: tuple[str, ...],
    versions: list[tuple[str, int]],
    labels: pa.Table,
    horizon_ms: int,
    unreadable_labels: int = 0,
) -> tuple[pa.Table, Backtest]:
    """(events table with ``label``/``label_known`` columns, the backtest columns) from the committed parts."""
    events = checkpoint.read()
    if events is None or events.num_rows == 0:
        raise ReplayError("no event of the range could be scored (every one was rejected; see the rejects file)")
    events = _in_topic_order(events)
    times = events.column("event_time").to_numpy()
    label, known = join_labels(events.column("event_id").combine_chunks(), times, labels, horizon_ms)
    events = events.append_column("label", pa.array(label, mask=~known))
    rejected = checkpoint.read("rejects")
    reasons: dict[str, int] = {}
    if rejected is not None:
        counts = pc.value_counts(rejected.column("reason")).to_pylist()
        reasons = {str(c["values"]): int(c["counts"]) for c in sorted(counts, key=lambda c: str(c["values"]))}
    backtest = Backtest(
        event_times=times,
        features=feature_matrix(events.column("features"), len(feature_names)),
        feature_names=feature_names,
        scores={v: events.column(score_column(*v)).to_numpy() for v in versions},
        labels=label,
        known=known,
        rejects=reasons,
        unreadable_labels=unreadable_labels,
    )
    return events, backtest


def _in_topic_order(events: pa.Table) -> pa.Table:
    """Rows by (partition, offset). Parts scanned from the event cache are in that order already, and the
    reordering copy (strings and feature lists) would cost as much as the rest of the merge."""
    partitions = events.column("partition").to_numpy()
    offsets = events.column("offset").to_numpy()
    same = partitions[1:] == partitions[:-1]
    if np.all((partitions[1:] > partitions[:-1]) | (same & (offsets[1:] > offsets[:-1]))):
        return events
    return events.take(np.lexsort((offsets, partitions)))


def results_table(events: pa.Table, versions: list[tuple[str, int]]) -> pa.Table:
    """One row per (event, version), sorted by model, version, partition, offset."""
    n = events.num_rows
    base = {
        "event_id": events.column("event_id"),
        "entity_id": events.column("entity_id"),
        "event_time": events.column("event_time").cast(pa.timestamp("ms", tz="UTC")),
        "partition": events.column("partition"),
        "offset": events.column("offset"),
    }
    tables = []
    for name, version in sorted(versions):
        columns = {
            **base,
            "model": pa.array([name], pa.string()).take(np.zeros(n, dtype=np.int32)),
            "version": pa.array(np.full(n, version, dtype=np.int32)),
            "score": events.column(score_column(name, version)),
            "label": events.column("label"),
        }
        tables.append(pa.table(columns))
    return pa.concat_tables(tables)


def write_parquet(table: pa.Table, path: Path) -> None:
    """Written beside, then renamed over ``path``: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    # Dictionaries only where values repeat: encoding unique event ids as a dictionary costs more than it saves.
    repeated = [c for c in ("model", "entity_id", "reason") if c in table.column_names]
    pq.write_table(table, tmp, compression="snappy", use_dictionary=repeated)
    os.replace(tmp, path)


def rejects_path(results: Path) -> Path:
    return results.with_name(results.stem + ".rejects.parquet")


def write_rejects(checkpoint: Checkpoint, results: Path) -> Path | None:
    rejected = checkpoint.read("rejects")
    path = rejects_path(results)
    if rejected is None:
        path.unlink(missing_ok=True)
        return None
    write_parquet(rejected.sort_by([("partition", "ascending"), ("offset", "ascending")]), path)
    return path
