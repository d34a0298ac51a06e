"""`scorecast rollout start|status|pause|resume|abort` and the controller, `scorecast worker rollout`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console

from scorecast.io.cassandra import cassandra_session
from scorecast.io.kafka import wait_for_kafka
from scorecast.process import configure_logging, stop_on_signals
from scorecast.settings import Settings
from scorecast.telemetry import configure
from scorers.artifacts import open_store
from scorers.registry import Registry
from scorers.rollouts import lifecycle
from scorers.rollouts.spec import DEFAULT_STAGES, Guardrails, RolloutSpec, Strategy, parse_stages
from scorers.rollouts.store import Rollout, RolloutStore

app = typer.Typer(no_args_is_help=True, help="Canary and A/B rollouts of a candidate version.")
console = Console(highlight=False)
Reason = Annotated[str, typer.Option(help="why (kept in the rollout's log)")]


@contextmanager
def _open() -> Iterator[tuple[Registry, RolloutStore]]:
    settings = Settings()
    with cassandra_session(settings) as session:
        yield Registry(session, open_store(settings)), RolloutStore(session)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@app.command()
def start(
    name: str,
    candidate: Annotated[int, typer.Option(help="the version to roll out")],
    stages: Annotated[str, typer.Option(help="percent of entities served the candidate, stage by stage")] = ",".join(
        f"{s:g}" for s in DEFAULT_STAGES
    ),
    min_minutes: Annotated[float, typer.Option(help="least time each stage holds")] = 5.0,
    min_samples: Annotated[int, typer.Option(help="least joined events each stage sees")] = 1000,
    strategy: Annotated[str, typer.Option(help="canary or ab")] = "canary",
    auto_promote: Annotated[bool, typer.Option(help="A/B: promote (or roll back) on a significant result")] = False,
    salt: Annotated[str, typer.Option(help="entity hash salt; the shadow tee's, so the canary is shadowed")] = "",
    shadow_fraction: Annotated[float, typer.Option(help="the tee's sample fraction")] = 1.0,
    max_ks: Annotated[float, typer.Option(help="guardrail: KS distance of scores from the champion's")] = 0.3,
    max_latency_ms: Annotated[float, typer.Option(help="guardrail: candidate p99 latency")] = 2000.0,
    label_horizon_hours: Annotated[
        float, typer.Option(help="events count in the label tests this long after their event time")
    ] = 72.0,
    without_labels: Annotated[
        bool,
        typer.Option(
            "--without-labels",
            help="let a canary reach its last stage and promote on scores, errors and latency alone, "
            "before any label evidence exists (an explicit waiver)",
        ),
    ] = False,
) -> None:
    """Start rolling VERSION of NAME out; `scorecast worker rollout --model NAME` then drives it."""
    if strategy not in ("canary", "ab"):
        raise lifecycle.RolloutError(f"strategy is canary or ab, not {strategy!r}")
    chosen: Strategy = "canary" if strategy == "canary" else "ab"
    spec = RolloutSpec(
        strategy=chosen,
        stages=parse_stages(stages),
        min_duration_s=min_minutes * 60,
        min_samples=min_samples,
        auto_promote=auto_promote,
        shadow_fraction=shadow_fraction,
        guardrails=Guardrails(max_ks=max_ks, max_latency_p99_ms=max_latency_ms),
        label_horizon_s=label_horizon_hours * 3600,
        without_labels=without_labels,
    )
    with _open() as (registry, store):
        rollout = lifecycle.start(registry, store, name, candidate, spec, salt, _now_ms())
    _print(rollout)


@app.command()
def status(name: str, as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False) -> None:
    """Where the newest rollout of NAME stands: stage, assignments, guardrails, recommendation, log."""
    with _open() as (_, store):
        rollout = lifecycle.require(store, name)
        events = store.events(rollout)
    if as_json:
        print(json.dumps(_summary(rollout) | {"events": [e.__dict__ for e in events]}, default=str))
        return
    _print(rollout)
    for check in rollout.evidence.get("guardrails", {}).get("checks", []):
        console.print(f"  {'ok ' if check['ok'] else 'BAD'} {check['name']}: {check['detail']}")
    for e in events:
        console.print(f"  {_when(e.at_ms)}  {e.action:<8} stage {e.fraction:.0%}  {e.reason}")


@app.command()
def pause(name: str, reason: Reason = "") -> None:
    """Hold the current stage (the split keeps serving as it is)."""
    with _open() as (_, store):
        _print(lifecycle.pause(store, name, reason, _now_ms()))


@app.command()
def resume(name: str, reason: Reason = "") -> None:
    """Carry on from the current stage (its minimum duration starts again)."""
    with _open() as (_, store):
        _print(lifecycle.resume(store, name, reason, _now_ms()))


@app.command()
def abort(name: str, reason: Reason = "") -> None:
    """Stop the rollout: every entity is served the champion again."""
    with _open() as (registry, store):
        _print(lifecycle.abort(registry, store, name, reason, _now_ms()))


def worker(
    model: Annotated[str, typer.Option(help="the model whose rollout to drive")],
    stream: Annotated[str, typer.Option(help="the stream its shadow results and labels come from")] = "transactions",
    interval: Annotated[float, typer.Option(help="seconds between evaluations")] = 5.0,
    webhook: Annotated[str | None, typer.Option(help="URL that receives rollback and promotion alerts")] = None,
    until_done: Annotated[bool, typer.Option(help="exit once no rollout of the model is running")] = False,
) -> None:
    """The rollout controller: evaluates guardrails every INTERVAL seconds, advances or rolls back."""
    # here, not at the top: they import scipy (seconds on a busy machine) that the one-shot commands never use
    from scorers.rollouts.controller import ControllerConfig, rollout_controller
    from streams.alerts import Alerter
    from streams.webhook import WebhookSender

    configure_logging()  # its decisions are INFO lines: without it only warnings reached the log
    configure(f"scorecast-rollout-{model}")
    settings = Settings()
    wait_for_kafka(settings)  # labels and dead letters come from Kafka: started with no broker, exit, don't spin
    # SIGINT too ends the loop between evaluations, never inside one's conditional writes
    stop = stop_on_signals()
    alerter = Alerter(WebhookSender(webhook) if webhook else None)
    config = ControllerConfig(model=model, stream=stream, interval_s=interval)
    try:
        with rollout_controller(settings, config, alerter) as controller:
            controller.run(stop, until_done=until_done)
    finally:
        alerter.close()


def _summary(r: Rollout) -> dict[str, object]:
    return {
        "model": r.model,
        "rollout_id": str(r.rollout_id),
        "strategy": r.spec.strategy,
        "candidate": r.candidate,
        "champion": r.baseline,
        "status": r.status,
        "stage": r.spec.stages[r.stage],
        "stages": list(r.spec.stages),
        "stage_started": _when(r.stage_started_ms),
        "assignments": r.assignments,
        "reason": r.reason,
        "recommendation": r.recommendation,
        "evidence": r.evidence,
    }


def _print(r: Rollout) -> None:
    stages = " → ".join(f"[{s:g}%]" if i == r.stage else f"{s:g}%" for i, s in enumerate(r.spec.stages))
    console.print(f"{r.model}: {r.spec.strategy} of v{r.candidate} against v{r.baseline} — {r.status}")
    console.print(f"  stages {stages} (since {_when(r.stage_started_ms)})")
    if r.assignments:
        console.print("  assigned events: " + ", ".join(f"{k} {v}" for k, v in sorted(r.assignments.items())))
    if r.reason:
        console.print(f"  reason: {r.reason}")
    if r.recommendation:
        console.print(f"  recommendation: {r.recommendation}")


def _when(ms: int) -> str:
    return f"{datetime.fromtimestamp(ms / 1000, UTC):%Y-%m-%d %H:%M:%S}"
