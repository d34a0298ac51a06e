"""`scorecast replay`: score a range of a stream's events with chosen versions; results, report, summary."""

from __future__ import annotations

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
    from scorers.replay.runner import ReplayOutcome

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
    from scorers.replay.report import PSI_WATCH, label, when

    f: Findings = outcome.findings
    r = f.range
    out.print(
        f"[bold]replayed[/] {f.events:,} events of {r.topic} ({when(r.start_ms)} → {when(r.end_ms)} UTC) "
        f"in {f.seconds:.1f} s ({f.events / max(f.seconds, 1e-9):,.0f} events/s)"
        + (" [dim](continued from a checkpoint)[/]" if outcome.resumed else "")
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
    out.print("[dim]time: " + ", ".join(f"{name} {s:.1f}s" for name, s in outcome.phases.items()) + "[/]")
    out.print(f"results: {outcome.results}" + (f"; rejects: {outcome.rejects}" if outcome.rejects else ""))
    if outcome.report is not None:
        out.print(f"report: {outcome.report}")


def replay(
    stream: Annotated[str, typer.Option(help="stream whose <stream>.events topic is replayed")],
    from_: Annotated[
        str, typer.Option("--from", help="start (included): ISO-8601 time, epoch ms, offset, p:offset list, earliest")
    ],
    to: Annotated[str, typer.Option(help="end (excluded): ISO-8601 time, epoch ms, offset, p:offset list, latest")],
    model: Annotated[list[str], typer.Option(help="NAME@VERSION (or NAME@ALIAS) to score with; repeatable")],
    out: Annotated[Path | None, typer.Option(help="HTML report")] = Path("replay-report.html"),
    results: Annotated[Path, typer.Option(help="Parquet results; its checkpoint folder sits beside it")] = Path(
        "replay-results.parquet"
    ),
    workers: Annotated[int, typer.Option(help="scan processes (one per core)", min=1)] = 1,
    label_horizon: Annotated[str, typer.Option(help="how long after an event its label may come (e.g. 7d)")] = "7d",
    batch: Annotated[int, typer.Option(help="events per scoring batch", min=1)] = 4000,
    label_cache: Annotated[
        Path | None, typer.Option(help="folder of decoded labels kept by topic range [default: user cache folder]")
    ] = None,
    no_label_cache: Annotated[bool, typer.Option(help="read every label from Kafka and keep none")] = False,
) -> None:
    """Backtest: score a topic range with any versions; never commits offsets or writes live tables.

    Rerunning the same command after an interruption continues from the checkpoint.
    """
    from scorecast.io.kafka import require_kafka

    settings = Settings()
    require_kafka(settings)  # one line now rather than a traceback from the first metadata request
    from scorers.replay.label_cache import default_root
    from scorers.replay.runner import ReplayRequest, run_replay  # seconds of imports (scikit-learn, scipy)

    request = ReplayRequest(
        stream=stream,
        start=from_,
        end=to,
        models=tuple(model),
        results=results,
        report=out,
        horizon_ms=parse_duration(label_horizon, "--label-horizon"),
        workers=workers,
        batch=batch,
        label_cache=None if no_label_cache else label_cache or default_root(),
    )
    stop = _stop_on_interrupt()
    try:
        with Bar() as bar:
            outcome = run_replay(settings, request, bar, stop)
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    print_summary(outcome)
