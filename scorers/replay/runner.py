"""A replay from start to end: pin versions and range (or continue a checkpoint), scan while the labels are
read beside it, merge, results, report."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from scorecast.settings import Settings
from scorers.registry import Registry
from scorers.replay.bounds import parse_bound
from scorers.replay.checkpoint import Checkpoint, Manifest
from scorers.replay.drift_memo import DriftMemo
from scorers.replay.errors import ReplayError, ReplayInterruptedError
from scorers.replay.event_cache import DEFAULT_MAX_BYTES
from scorers.replay.findings import Findings, find
from scorers.replay.label_fetch import LabelFetch, label_window
from scorers.replay.labels import DEFAULT_HORIZON_MS
from scorers.replay.parallel import scan_all
from scorers.replay.progress import Phases, ProgressSink, Quiet
from scorers.replay.ranges import PartitionRange, ReplayRange, resolve
from scorers.replay.reader import KafkaTopicView
from scorers.replay.report import write_report
from scorers.replay.results import merge, results_table, write_parquet, write_rejects
from scorers.replay.scan import ScanJob
from scorers.replay.versions import ModelRef, PinnedVersions


@dataclass(frozen=True)
class ReplayRequest:
    stream: str
    start: str  # --from, as typed
    end: str  # --to, as typed
    models: tuple[str, ...]  # NAME@VERSION or NAME@ALIAS, as typed
    results: Path
    report: Path | None = None
    horizon_ms: int = DEFAULT_HORIZON_MS
    workers: int = 1
    batch: int = 4000
    flush_events: int = 250_000
    flush_s: float = 10.0
    label_cache: Path | None = None  # decoded labels kept by topic range across replays (label_cache.py)
    event_cache: Path | None = None  # decoded events kept by topic range across replays (event_cache.py)
    event_cache_bytes: int = DEFAULT_MAX_BYTES

    def key(self) -> dict[str, Any]:
        """What must match for a rerun to continue a checkpoint (not the outputs, not the worker count)."""
        return {"stream": self.stream, "from": self.start, "to": self.end, "models": list(self.models),
                "horizon_ms": self.horizon_ms}  # fmt: skip


@dataclass(frozen=True)
class ReplayOutcome:
    findings: Findings
    results: Path
    rejects: Path | None
    report: Path | None
    resumed: bool
    phases: dict[str, float]  # wall seconds per phase, in order
    phase_cpu: dict[str, float]  # CPU seconds of this process (all its threads, not its children) per phase


@dataclass(frozen=True)
class Scanned:
    """A range scanned into the checkpoint, with its labels read: what the results of a replay are made from."""

    manifest: Manifest
    pinned: PinnedVersions
    checkpoint: Checkpoint
    labels: pa.Table
    unreadable_labels: int
    resumed: bool
    clock: Phases


def scan_range(
    settings: Settings,
    request: ReplayRequest,
    progress: ProgressSink | None = None,
    stop: threading.Event | None = None,
    share: Callable[[tuple[PartitionRange, ...]], tuple[PartitionRange, ...]] | None = None,
) -> Scanned:
    """Pin, then scan the range (or the ``share`` of it that one shard reads) while its labels are read."""
    clock = Phases()
    progress = progress or Quiet()
    stop = stop or threading.Event()
    checkpoint = Checkpoint.for_results(request.results)
    manifest, pinned, resumed = _pin(settings, request, checkpoint)
    clock.lap("resolve")
    replay = manifest.range
    if share is not None:
        replay = dataclasses.replace(replay, partitions=share(replay.partitions))
    checkpoint.discard_uncommitted()
    offsets = checkpoint.next_offsets(replay)
    remaining = tuple(PartitionRange(r.partition, offsets[r.partition], r.end) for r in replay.partitions)
    left = sum(r.events for r in remaining)
    labels = LabelFetch(settings, request.stream, manifest, checkpoint, progress, stop, request.label_cache)
    labels.begin()
    advance = progress.phase("events", replay.events, replay.events - left)
    if left:
        job = ScanJob(
            settings=settings,
            stream=request.stream,
            ranges=remaining,
            versions=pinned,
            checkpoint=checkpoint.directory,
            batch=request.batch,
            flush_events=request.flush_events,
            flush_s=request.flush_s,
            event_cache=request.event_cache,
            event_cache_bytes=request.event_cache_bytes,
        )
        try:
            scan_all(job, request.workers, advance, stop)
        except BaseException:
            labels.cancel()
            raise
    clock.lap("scan")
    if stop.is_set():
        labels.cancel()
        reached = checkpoint.next_offsets(replay)
        done = sum(reached[r.partition] - r.start for r in replay.partitions)
        raise ReplayInterruptedError(
            f"interrupted after {done:,} of {replay.events:,} events; rerun the same command to continue "
            f"from {checkpoint.directory}"
        )
    label_table, unreadable = labels.result()
    clock.lap("labels (after the scan)")
    return Scanned(manifest, pinned, checkpoint, label_table, unreadable, resumed, clock)


def run_replay(
    settings: Settings,
    request: ReplayRequest,
    progress: ProgressSink | None = None,
    stop: threading.Event | None = None,
) -> ReplayOutcome:
    done = scan_range(settings, request, progress, stop)
    pinned, checkpoint, clock, replay = done.pinned, done.checkpoint, done.clock, done.manifest.range
    feature_names = tuple(pinned.versions[0][0].feature_spec.names)
    events, backtest = merge(
        checkpoint, feature_names, pinned.keys, done.labels, request.horizon_ms, done.unreadable_labels
    )
    clock.lap("merge")
    write_parquet(results_table(events, pinned.keys), request.results)
    rejects = write_rejects(checkpoint, request.results)
    clock.lap("write results")
    memo = None if request.event_cache is None else DriftMemo(request.event_cache).drift
    findings = find(request.stream, replay, request.horizon_ms, backtest, [v for v, _ in pinned.versions], memo=memo)
    clock.lap("metrics and drift")
    findings = dataclasses.replace(findings, seconds=clock.total)
    if request.report is not None:
        write_report(findings, request.report)
        clock.lap("report")
    checkpoint.remove()
    return ReplayOutcome(findings, request.results, rejects, request.report, done.resumed, clock.laps, clock.cpu)


def _pin(settings: Settings, request: ReplayRequest, checkpoint: Checkpoint) -> tuple[Manifest, PinnedVersions, bool]:
    """The checkpoint's manifest when it is this replay's; else versions and range resolved now and recorded."""
    manifest = checkpoint.manifest()
    if manifest is not None and manifest.request != request.key():
        raise ReplayError(
            f"{checkpoint.directory} holds an unfinished replay of another request ({manifest.request}); "
            "use another --results or delete that folder"
        )
    with Registry.open(settings) as registry:
        if manifest is not None:
            pinned = PinnedVersions.resolve(registry, [ModelRef(n, str(v)) for n, v, _ in manifest.models])
            if [(v.model, v.version, v.sha256) for v, _ in pinned.versions] != list(manifest.models):
                raise ReplayError(f"a version pinned in {checkpoint.directory} changed in the registry; delete it")
            return manifest, pinned, True
        pinned = PinnedVersions.resolve(registry, [ModelRef.parse(m) for m in request.models])
    if not pinned.versions:
        raise ReplayError("give at least one --model NAME@VERSION")
    streams = {v.feature_spec.stream for v, _ in pinned.versions}
    if streams != {request.stream}:
        raise ReplayError(f"the versions score streams {sorted(streams)}, not {request.stream!r}")
    replay = _resolve_range(settings, request)
    labels = label_window(settings, request.stream, replay, request.horizon_ms)
    manifest = Manifest(
        request.key(), replay, labels, tuple((v.model, v.version, v.sha256) for v, _ in pinned.versions)
    )
    checkpoint.start(manifest)
    return manifest, pinned, False


def _resolve_range(settings: Settings, request: ReplayRequest) -> ReplayRange:
    start, end = parse_bound(request.start, "--from"), parse_bound(request.end, "--to")
    view = KafkaTopicView(settings, settings.topic(request.stream, "events"))
    try:
        return resolve(view, start, end)
    finally:
        view.close()
