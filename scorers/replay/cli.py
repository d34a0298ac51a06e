"""`scorecast replay`: score a range of a stream's events with chosen versions; results, report, summary."""

from __future__ import annotations

import dataclasses
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from scorecast.settings import Settings
from scorers.replay.bounds import parse_duration
from scorers.replay.progress import Bar

if TYPE_CHECKING:
    from scorers.replay.findings import Findings
    from scorers.replay.runner import ReplayOutcome, ReplayRequest
    from scorers.replay.sharded import ShardOutcome
    from scorers.replay.shards import Shard

# The runner, metrics and report pull in scikit-learn, matplotlib and pyarrow; they are imported when a replay
# runs, so that every other `scorecast` command (a scorer worker above all) does not carry them in memory.

console = Console()


def _stop_on_interrupt() -> threading.Event:
    """First Ctrl-C: finish the batch in hand, commit it to the checkpoint, stop. A second one: stop now."""
    stop = threading.Event()

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGINT, handle)
    return stop


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def print_summary(outcome: ReplayOutcome, out: Console = console) -> None:
    print_findings(outcome.findings, outcome.phases, outcome.resumed, out)
    out.print(f"results: {outcome.results}" + (f"; rejects: {outcome.rejects}" if outcome.rejects else ""))
    if outcome.report is not None:
        out.print(f"report: {outcome.report}")


def print_findings(f: Findings, phases: dict[str, float], resumed: bool = False, out: Console = console) -> None:
    from scorers.replay.report import PSI_WATCH, label, when

    r = f.range
    out.print(
        f"[bold]replayed[/] {f.events:,} events of {r.topic} ({when(r.start_ms)} → {when(r.end_ms)} UTC) "
        f"in {f.seconds:.1f} s ({f.events / max(f.seconds, 1e-9):,.0f} events/s)"
        + (" [dim](continued from a checkpoint)[/]" if resumed else "")
    )
    table = Table("version", "events", "labelled", "mean score", "AUC", "log loss", "Brier", title="metrics")
    for key, m in f.overall.items():
        table.add_row(label(key), f"{m.events:,}", f"{m.labelled:,}", _fmt(m.mean_score), _fmt(m.auc),
                      _fmt(m.log_loss), _fmt(m.brier))  # fmt: skip
    out.print(table)
    for key, drift in f.feature_drift.items():
        if drift is None or f.drift_reference.get(key, key) != key:
            continue
        top = sorted(zip(drift.columns, drift.psi_whole.tolist(), strict=True), key=lambda c: -c[1])[:5]
        shifted = ", ".join(f"{name} {psi:.3f}" for name, psi in top if psi > PSI_WATCH) or "none above 0.1"
        out.print(f"drift against the reference of {label(key)} (PSI, whole range): {shifted}")
    if f.rejects:
        out.print("[yellow]rejected events[/]: " + ", ".join(f"{k} {v:,}" for k, v in f.rejects.items()))
    if f.unreadable_labels:
        out.print(f"[yellow]unreadable label records[/]: {f.unreadable_labels:,}")
    out.print("[dim]time: " + ", ".join(f"{name} {s:.1f}s" for name, s in phases.items()) + "[/]")


app = typer.Typer(no_args_is_help=True)


@app.callback(invoke_without_command=True)
def replay(
    ctx: typer.Context,
    stream: Annotated[str | None, typer.Option(help="stream whose <stream>.events topic is replayed")] = None,
    from_: Annotated[
        str | None,
        typer.Option("--from", help="start (included): ISO-8601 time, epoch ms, offset, p:offset list, earliest"),
    ] = None,
    to: Annotated[
        str | None, typer.Option(help="end (excluded): ISO-8601 time, epoch ms, offset, p:offset list, latest")
    ] = None,
    model: Annotated[
        list[str] | None, typer.Option(help="NAME@VERSION (or NAME@ALIAS) to score with; repeatable")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="HTML report")] = Path("replay-report.html"),
    results: Annotated[
        str | None,
        typer.Option(
            help="Parquet results, its checkpoint folder beside it [default: replay-results.parquet]; with "
            "--shard, the folder or object-store URL (s3://bucket/prefix) of the parts"
        ),
    ] = None,
    workers: Annotated[int, typer.Option(help="scan processes (one per core)", min=1)] = 1,
    label_horizon: Annotated[str, typer.Option(help="how long after an event its label may come (e.g. 7d)")] = "7d",
    batch: Annotated[int, typer.Option(help="events per scoring batch", min=1)] = 4000,
    label_cache: Annotated[
        Path | None, typer.Option(help="folder of decoded labels kept by topic range [default: user cache folder]")
    ] = None,
    no_label_cache: Annotated[bool, typer.Option(help="read every label from Kafka and keep none")] = False,
    event_cache: Annotated[
        Path | None,
        typer.Option(
            help="folder of decoded events kept by topic range, and drift results by their inputs "
            "[default: user cache folder]"
        ),
    ] = None,
    no_event_cache: Annotated[
        bool, typer.Option(help="read and decode every event from Kafka, compute every drift, keep none")
    ] = False,
    event_cache_gb: Annotated[
        float, typer.Option(help="size bound of the event cache; least recently used spans go first", min=0)
    ] = 4.0,
    shard: Annotated[
        str | None,
        typer.Option(help="I/N: replay only shard I (0-based) of N and write its part to --results; no report"),
    ] = None,
) -> None:
    """Backtest: score a topic range with any versions; never commits offsets or writes live tables.

    Rerunning the same command after an interruption continues from the checkpoint. With --shard, N
    machines each replay a share; `scorecast replay merge` then makes the report from their parts.
    """
    if ctx.invoked_subcommand is not None:
        return
    from scorecast.io.kafka import require_kafka
    from scorers.replay.errors import ReplayError
    from scorers.replay.shards import Shard

    if stream is None or from_ is None or to is None or not model:
        raise ReplayError("a replay needs --stream, --from, --to and at least one --model")
    part = None if shard is None else Shard.parse(shard)
    if part is not None and results is None:
        raise ReplayError("--shard needs --results: the folder or object-store URL every shard writes its part to")
    settings = Settings()
    require_kafka(settings)  # one line now rather than a traceback from the first metadata request
    from scorers.replay import event_cache as events
    from scorers.replay.label_cache import default_root
    from scorers.replay.runner import ReplayRequest, run_replay  # seconds of imports (scikit-learn, scipy)

    request = ReplayRequest(
        stream=stream,
        start=from_,
        end=to,
        models=tuple(model),
        results=Path(results or "replay-results.parquet"),
        report=out,
        horizon_ms=parse_duration(label_horizon, "--label-horizon"),
        workers=workers,
        batch=batch,
        label_cache=None if no_label_cache else label_cache or default_root(),
        event_cache=None if no_event_cache else event_cache or events.default_root(),
        event_cache_bytes=int(event_cache_gb * (1 << 30)),
    )
    stop = _stop_on_interrupt()
    try:
        with Bar() as bar:
            if part is None:
                outcome = run_replay(settings, request, bar, stop)
            else:
                assert results is not None
                done = _run_shard(settings, request, part, results, bar, stop)
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if part is None:
        print_summary(outcome)
    else:
        print_shard(done)


def _run_shard(
    settings: Settings, request: ReplayRequest, shard: Shard, url: str, bar: Bar, stop: threading.Event
) -> ShardOutcome:
    from scorers.replay.parts import ResultStore
    from scorers.replay.sharded import checkpoint_base, run_shard

    store = ResultStore(url)
    local = dataclasses.replace(request, results=checkpoint_base(store, shard), report=None)
    return run_shard(settings, local, shard, store, bar, stop)


def print_shard(outcome: ShardOutcome, out: Console = console) -> None:
    share = ", ".join(f"{r.partition}: {r.start}-{r.end}" for r in outcome.covered) or "none (more shards than events)"
    out.print(f"[bold]shard {outcome.shard}[/] scored {outcome.rows:,} events of offsets {share}")
    if outcome.rejects:
        out.print("[yellow]rejected events[/]: " + ", ".join(f"{k} {v:,}" for k, v in outcome.rejects.items()))
    out.print("[dim]time: " + ", ".join(f"{name} {s:.1f}s" for name, s in outcome.phases.items()) + "[/]")
    out.print(f"part: {outcome.part}")


@app.command("merge")
def merge(
    results: Annotated[str, typer.Option(help="folder or object-store URL (s3://bucket/prefix) of the parts")],
    out: Annotated[Path | None, typer.Option(help="HTML report")] = Path("replay-report.html"),
    table: Annotated[
        Path | None, typer.Option(help="also write the merged results as one Parquet file, as a replay does")
    ] = None,
) -> None:
    """Check the parts of a sharded replay (every shard there, none overlapping, one run) and make its report."""
    from scorers.replay.merge import merge_parts

    merged = merge_parts(Settings(), results, out, table)
    print_findings(merged.findings, merged.phases)
    console.print(f"parts: {len(merged.parts)} at {results}")
    if merged.table is not None:
        console.print(f"results: {merged.table}" + (f"; rejects: {merged.rejects}" if merged.rejects else ""))
    if merged.report is not None:
        console.print(f"report: {merged.report}")
