"""One shard of a distributed replay (``--shard I/N``): scan this shard's share of the range exactly as a
one-process replay scans it (same checkpoint, same scoring core, labels joined the same way), then write
the part at ``--results URL``. The report is the merge's (``scorecast replay merge``).

Every shard reads the whole label window: an event's label is found by event id wherever the label
landed, and the part is then complete on its own, so the merge needs neither Kafka nor Cassandra's labels.
The checkpoint stays on local disk (beside the parts for a local folder, in the temporary folder for an
object store), so an interrupted shard rerun on the same machine continues where it stopped.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from scorecast.settings import Settings
from scorers.replay.parts import PartRecord, ResultStore, part_name
from scorers.replay.progress import ProgressSink
from scorers.replay.ranges import PartitionRange
from scorers.replay.results import merge
from scorers.replay.runner import ReplayRequest, scan_range
from scorers.replay.scan import part_schema
from scorers.replay.shards import Shard

LABEL = pa.field("label", pa.int8())


@dataclass(frozen=True)
class ShardOutcome:
    shard: Shard
    part: str  # URL of the part written
    covered: tuple[PartitionRange, ...]
    rows: int
    rejects: dict[str, int]
    phases: dict[str, float]


def checkpoint_base(store: ResultStore, shard: Shard) -> Path:
    """Where this shard's checkpoint lives (its folder is this path + ".checkpoint"): always on local disk."""
    stem = part_name(shard).removesuffix(".parquet")
    if store.local:
        return Path(store.root) / f".{stem}"
    digest = hashlib.sha256(store.url.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"scorecast-replay-{digest}" / stem


def run_shard(
    settings: Settings,
    request: ReplayRequest,
    shard: Shard,
    store: ResultStore,
    progress: ProgressSink | None = None,
    stop: threading.Event | None = None,
) -> ShardOutcome:
    """``request.results`` is the local checkpoint base (``checkpoint_base``); the part goes to ``store``."""
    done = scan_range(settings, request, progress, stop, shard.share)
    manifest, pinned, checkpoint, clock = done.manifest, done.pinned, done.checkpoint, done.clock
    covered = shard.share(manifest.range.partitions)
    feature_names = tuple(pinned.versions[0][0].feature_spec.names)
    if sum(p.rows for p in checkpoint.parts()):
        events, _ = merge(
            checkpoint, feature_names, pinned.keys, done.labels, request.horizon_ms, done.unreadable_labels
        )
    else:  # nothing to read, or every event rejected: an empty part still tells the merge this share is done
        events = part_schema(len(feature_names), pinned.keys).append(LABEL).empty_table()
    rejected = checkpoint.read("rejects")
    reasons: dict[str, int] = {}
    if rejected is not None:
        rejected = rejected.sort_by([("partition", "ascending"), ("offset", "ascending")])
        reasons = {str(c["values"]): int(c["counts"]) for c in pc.value_counts(rejected.column("reason")).to_pylist()}
    clock.lap("merge")
    record = PartRecord(
        shard=shard,
        request=request.key(),
        range=manifest.range,
        labels=manifest.labels,
        models=manifest.models,
        feature_names=feature_names,
        covered=covered,
        rows=events.num_rows,
        rejects=dict(sorted(reasons.items())),
        unreadable_labels=done.unreadable_labels,
        seconds=clock.total,
    )
    url = store.write(record, events, rejected)
    clock.lap("write part")
    checkpoint.remove()
    return ShardOutcome(shard, url, covered, events.num_rows, record.rejects, clock.laps)
