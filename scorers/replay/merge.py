"""``scorecast replay merge``: the parts of a sharded replay checked, joined and turned into the report and
summary a one-process replay of the same range and versions gives (and, on request, its results file).

The parts must be one run's: one shard count N and every shard 0..N-1 present, the same request, range,
label window, versions and features in each, and their covered offsets tiling the range with no overlap.
Anything else is refused with one line naming the part and what to do. Merged rows are sorted by
partition and offset, as the one-process replay sorts them, so metrics, drift and the results file are the
same bit for bit; only the replay time differs (the slowest shard's plus the merge's).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from scorecast.settings import Settings
from scorers.registry import ModelVersion, Registry
from scorers.replay.errors import ReplayError
from scorers.replay.findings import Findings, find
from scorers.replay.parts import PART_NAME, PartRecord, ResultStore, part_name, rejects_name
from scorers.replay.progress import Phases
from scorers.replay.report import write_report
from scorers.replay.results import Backtest, rejects_path, results_table, write_parquet
from scorers.replay.scan import feature_matrix, score_column
from scorers.replay.shards import Shard

AGREED = ("request", "range", "labels", "models", "feature_names")


@dataclass(frozen=True)
class MergeOutcome:
    findings: Findings
    parts: list[PartRecord]
    table: Path | None  # the merged results file, when asked for
    rejects: Path | None
    report: Path | None
    phases: dict[str, float]


@dataclass(frozen=True)
class MergedParts:
    records: list[PartRecord]  # by shard index
    events: pa.Table  # every part's rows, by partition and offset, with their labels
    rejects: pa.Table | None


def check(store: ResultStore) -> list[PartRecord]:
    """The parts' records, by shard index, once they are shown to be one complete, non-overlapping run."""
    names = store.names()
    if not names:
        raise ReplayError(f"no replay parts (part-I-of-N.parquet) at {store.url}")
    counts = sorted({int(m[2]) for m in (PART_NAME.fullmatch(n) for n in names) if m})
    if len(counts) > 1:
        raise ReplayError(
            f"parts of {' and '.join(map(str, counts))} shards at {store.url}: they are not one run; "
            "delete the stale ones and merge again"
        )
    records = [store.record(n) for n in names]
    for name, record in zip(names, records, strict=True):
        if part_name(record.shard) != name:
            raise ReplayError(f"{store.where(name)} holds shard {record.shard}'s rows; rerun that shard")
    count = counts[0]
    present = {r.shard.index for r in records}
    missing = [i for i in range(count) if i not in present]
    if missing:
        which = ", ".join(map(str, missing))
        raise ReplayError(
            f"{'shard' if len(missing) == 1 else 'shards'} {which} of {count} missing at {store.url}: run "
            + " and ".join(f"--shard {i}/{count}" for i in missing)
            + ", then merge again"
        )
    records.sort(key=lambda r: r.shard.index)
    first = records[0]
    for record in records[1:]:
        for field in AGREED:
            if getattr(record, field) != getattr(first, field):
                hint = " (--from/--to resolved differently: give offsets or times every shard resolves alike)"
                raise ReplayError(
                    f"{part_name(record.shard)} and {part_name(first.shard)} disagree on the {field.replace('_', ' ')}"
                    + (hint if field in ("range", "labels") else "")
                    + "; rerun the shards with one command"
                )
    _check_tiling(records)
    return records


def _check_tiling(records: list[PartRecord]) -> None:
    """Covered offsets must tile each partition of the range: no gap, no overlap, nothing outside it."""
    spans: dict[int, list[tuple[int, int, Shard]]] = defaultdict(list)
    for record in records:
        for r in record.covered:
            spans[r.partition].append((r.start, r.end, record.shard))
    for p in records[0].range.partitions:
        at, previous = p.start, records[0].shard
        for start, end, shard in sorted(spans.pop(p.partition, []), key=lambda s: (s[0], s[1])):
            if start < at:
                raise ReplayError(
                    f"{part_name(previous)} and {part_name(shard)} overlap: both cover partition {p.partition} "
                    f"offsets {start}-{min(at, end)}; rerun the shards with one command"
                )
            if start > at or end > p.end:
                raise ReplayError(
                    f"{part_name(shard)} covers partition {p.partition} offsets {start}-{end}, which does not "
                    f"follow offset {at} of the range; rerun the shards with one command"
                )
            at, previous = end, shard
        if at != p.end:
            raise ReplayError(f"no part covers partition {p.partition} offsets {at}-{p.end}; rerun the shards")
    if spans:
        raise ReplayError(f"a part covers partition {min(spans)}, which is outside the range; rerun the shards")


def read_parts(store: ResultStore) -> MergedParts:
    records = check(store)
    tables, rejects = [], []
    for record in records:
        table = store.read(part_name(record.shard))
        if table.num_rows != record.rows:
            raise ReplayError(f"{part_name(record.shard)} holds {table.num_rows} rows, its record says {record.rows}")
        if table.num_rows:
            tables.append(table)
        if record.rejects:
            rejected = store.read(rejects_name(record.shard)) if store.exists(rejects_name(record.shard)) else None
            if rejected is None or rejected.num_rows != sum(record.rejects.values()):
                raise ReplayError(f"{rejects_name(record.shard)} is missing or incomplete; rerun that shard")
            rejects.append(rejected)
    if not tables:
        raise ReplayError("no event of the range could be scored (every one was rejected; see the rejects)")
    events = pa.concat_tables(tables).sort_by([("partition", "ascending"), ("offset", "ascending")])
    rejected = (
        pa.concat_tables(rejects).sort_by([("partition", "ascending"), ("offset", "ascending")]) if rejects else None
    )
    return MergedParts(records, events, rejected)


def backtest(parts: MergedParts) -> Backtest:
    """The columns metrics and the report read, as the one-process replay builds them from its checkpoint."""
    first, events = parts.records[0], parts.events
    label = events.column("label")
    reasons: dict[str, int] = defaultdict(int)
    for record in parts.records:
        for reason, n in record.rejects.items():
            reasons[reason] += n
    return Backtest(
        event_times=events.column("event_time").to_numpy(),
        features=feature_matrix(events.column("features"), len(first.feature_names)),
        feature_names=first.feature_names,
        scores={(n, v): events.column(score_column(n, v)).to_numpy() for n, v, _ in first.models},
        labels=label.fill_null(0).to_numpy().astype(np.int8),
        known=label.is_valid().to_numpy(),
        rejects=dict(sorted(reasons.items())),
        unreadable_labels=first.unreadable_labels,
    )


def merge_parts(settings: Settings, url: str, report: Path | None, table: Path | None = None) -> MergeOutcome:
    """Check and join the parts at ``url``; write the report (and the results file when ``table`` is given)."""
    clock = Phases()
    parts = read_parts(ResultStore(url))
    first = parts.records[0]
    metas = _versions(settings, first)
    clock.lap("read parts")
    keys = [(n, v) for n, v, _ in first.models]
    rejects = None
    if table is not None:
        write_parquet(results_table(parts.events, keys), table)
        rejects_path(table).unlink(missing_ok=True)
        if parts.rejects is not None:
            rejects = rejects_path(table)
            write_parquet(parts.rejects, rejects)
        clock.lap("write results")
    horizon_ms = int(first.request["horizon_ms"])
    findings = find(str(first.request["stream"]), first.range, horizon_ms, backtest(parts), metas)
    clock.lap("metrics and drift")
    findings = dataclasses.replace(findings, seconds=max(r.seconds for r in parts.records) + clock.total)
    if report is not None:
        write_report(findings, report)
        clock.lap("report")
    return MergeOutcome(findings, parts.records, table, rejects, report, clock.laps)


def _versions(settings: Settings, record: PartRecord) -> list[ModelVersion]:
    """The parts' versions from the registry (their reference profiles feed drift), checksums as scored."""
    with Registry.open(settings) as registry:
        metas = [registry.resolve(name, str(version)) for name, version, _ in record.models]
    for meta, (name, version, sha256) in zip(metas, record.models, strict=True):
        if meta.sha256 != sha256:
            raise ReplayError(f"{name}@{version} changed in the registry since the shards scored it")
    return metas
