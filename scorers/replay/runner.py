"""A replay from start to end: pin versions and range (or continue a checkpoint), scan, labels, merge, report.

With ``workers > 1`` the remaining offsets are cut into equal shares (partitions split at offsets where
needed) and each share is scanned by its own process (spawned: no forked ONNX or Kafka state); the parts they
commit are merged by partition and offset, so the results do not depend on how many processes made them.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas.registry import open_store
from scorecast.settings import Settings
from scorers.registry import Registry
from scorers.replay.bounds import parse_bound
from scorers.replay.checkpoint import Checkpoint, Manifest
from scorers.replay.errors import ReplayError, ReplayInterruptedError
from scorers.replay.findings import Findings, find
from scorers.replay.labels import DEFAULT_HORIZON_MS, LabelColumns, LabelDecoder, label_ranges
from scorers.replay.progress import ProgressSink, Quiet
from scorers.replay.ranges import PartitionRange, ReplayRange, resolve
from scorers.replay.reader import KafkaTopicView, RangeReader
from scorers.replay.report import write_report
from scorers.replay.results import merge, results_table, write_parquet, write_rejects
from scorers.replay.scan import ScanJob, scan, scan_process
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


def run_replay(
    settings: Settings,
    request: ReplayRequest,
    progress: ProgressSink | None = None,
    stop: threading.Event | None = None,
) -> ReplayOutcome:
    started = time.perf_counter()
    progress = progress or Quiet()
    stop = stop or threading.Event()
    checkpoint = Checkpoint.for_results(request.results)
    manifest, pinned, resumed = _pin(settings, request, checkpoint)
    replay = manifest.range
    checkpoint.discard_uncommitted()
    offsets = checkpoint.next_offsets(replay)
    remaining = tuple(PartitionRange(r.partition, offsets[r.partition], r.end) for r in replay.partitions)
    left = sum(r.events for r in remaining)
    progress.phase("events", replay.events, replay.events - left)
    if left:
        _scan(settings, request, remaining, pinned, checkpoint, progress, stop)
    if stop.is_set():
        done = sum(
            o - r.start for r, o in zip(replay.partitions, checkpoint.next_offsets(replay).values(), strict=True)
        )
        raise ReplayInterruptedError(
            f"interrupted after {done:,} of {replay.events:,} events; rerun the same command to continue "
            f"from {checkpoint.directory}"
        )
    labels, unreadable = _labels(settings, request.stream, manifest, checkpoint, progress, stop)
    feature_names = tuple(pinned.versions[0][0].feature_spec.names)
    events, backtest = merge(checkpoint, feature_names, pinned.keys, labels, request.horizon_ms, unreadable)
    write_parquet(results_table(events, pinned.keys), request.results)
    rejects = write_rejects(checkpoint, request.results)
    findings = find(request.stream, replay, request.horizon_ms, backtest, [v for v, _ in pinned.versions])
    findings = dataclasses.replace(findings, seconds=time.perf_counter() - started)
    if request.report is not None:
        write_report(findings, request.report)
    checkpoint.remove()
    return ReplayOutcome(findings, request.results, rejects, request.report, resumed)


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
    labels = _resolve_labels(settings, request.stream, replay, request.horizon_ms)
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


def _resolve_labels(
    settings: Settings, stream: str, replay: ReplayRange, horizon_ms: int
) -> tuple[PartitionRange, ...] | None:
    try:
        view = KafkaTopicView(settings, settings.topic(stream, "labels"))
    except ReplayError:
        return None  # a stream without a labels topic: metrics need labels, scores and drift do not
    try:
        return label_ranges(view, replay.start_ms, replay.end_ms + horizon_ms)
    finally:
        view.close()


def shares(ranges: tuple[PartitionRange, ...], workers: int) -> list[tuple[PartitionRange, ...]]:
    """Cut ``ranges`` into at most ``workers`` shares of (nearly) equal size, splitting partitions at offsets."""
    total = sum(r.events for r in ranges)
    size = -(-total // max(workers, 1))
    result: list[list[PartitionRange]] = [[]]
    room = size
    for r in ranges:
        start = r.start
        while start < r.end:
            if room == 0:
                result.append([])
                room = size
            end = min(r.end, start + room)
            result[-1].append(PartitionRange(r.partition, start, end))
            room -= end - start
            start = end
    return [tuple(s) for s in result if s]


def _scan(
    settings: Settings,
    request: ReplayRequest,
    remaining: tuple[PartitionRange, ...],
    pinned: PinnedVersions,
    checkpoint: Checkpoint,
    progress: ProgressSink,
    stop: threading.Event,
) -> None:
    jobs = [
        ScanJob(
            settings=settings,
            stream=request.stream,
            ranges=share,
            versions=pinned,
            checkpoint=checkpoint.directory,
            batch=request.batch,
            flush_events=request.flush_events,
            flush_s=request.flush_s,
        )
        for share in shares(remaining, request.workers)
    ]
    if len(jobs) == 1:
        scan(jobs[0], progress.advance, stop)
        return
    context = multiprocessing.get_context("spawn")
    messages: Any = context.Queue()
    halt = context.Event()
    processes = [context.Process(target=scan_process, args=(job, messages, halt), daemon=True) for job in jobs]
    for process in processes:
        process.start()
    errors: list[str] = []
    finished = 0
    try:
        while finished < len(processes):
            if stop.is_set():
                halt.set()
            try:
                kind, value = messages.get(timeout=0.2)
            except queue.Empty:
                if not any(p.is_alive() for p in processes) and messages.empty():
                    codes = [p.exitcode for p in processes]
                    raise ReplayError(
                        f"a replay worker died (exit codes {codes}); rerun the same command to continue"
                    ) from None
                continue
            if kind == "progress":
                progress.advance(value)
            else:
                finished += 1
                if kind == "error":
                    errors.append(value)
                    halt.set()
    finally:
        halt.set()
        for process in processes:
            process.join(timeout=60)
    if errors:
        raise ReplayError(errors[0])


def _labels(
    settings: Settings,
    stream: str,
    manifest: Manifest,
    checkpoint: Checkpoint,
    progress: ProgressSink,
    stop: threading.Event,
) -> tuple[Any, int]:
    saved = checkpoint.labels()
    if saved is not None:
        return saved
    columns = LabelColumns()
    if manifest.labels is not None:
        topic = settings.topic(stream, "labels")
        decoder = LabelDecoder(open_store(settings), topic)
        progress.phase("labels", sum(r.events for r in manifest.labels))
        at = {r.partition: r.start for r in manifest.labels}
        for raw in RangeReader(settings, topic, manifest.labels, batch=20_000):
            decoder.add(columns, raw.values, raw.partitions, raw.offsets)
            progress.advance(sum(n - at[p] for p, n in raw.advanced.items()))
            at.update(raw.advanced)
            if stop.is_set():
                raise ReplayInterruptedError("interrupted while reading labels; rerun the same command to continue")
    table = columns.table()
    checkpoint.save_labels(table, columns.unreadable)
    return table, columns.unreadable
