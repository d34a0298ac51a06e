"""`scorecast worker drift|promotion` (the stream processors) and `scorecast signals show`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from cassandra import DriverException, InvalidRequest
from rich import box
from rich.console import Console
from rich.table import Table

from scorecast.errors import ConfigError
from scorecast.io.cassandra import cassandra_session
from scorecast.io.errors import cassandra_error
from scorecast.io.kafka import wait_for_kafka
from scorecast.process import configure_logging, stop_on_signals
from scorecast.settings import Settings
from scorecast.telemetry import configure
from streams.config import ConceptOptions, DriftOptions, load_config
from streams.signals import Signal
from streams.store import SignalStore

console = Console(stderr=True)
app = typer.Typer(no_args_is_help=True, help="Drift, performance and promotion signals.")

Stream = Annotated[str, typer.Option(help="stream to watch")]
Model = Annotated[str, typer.Option(help="registered model name")]
ConfigFile = Annotated[
    Path | None, typer.Option("--config", help="TOML or JSON file of windows and thresholds per model")
]
Webhook = Annotated[
    str | None, typer.Option(envvar="SCORECAST_ALERT_WEBHOOK_URL", help="POST alerts to this URL (overrides --config)")
]
MetricsPort = Annotated[int | None, typer.Option(help="serve Prometheus metrics on this port")]
IdleExit = Annotated[float | None, typer.Option(help="exit once nothing came for this many seconds")]


def _options(config: Path | None, model: str, webhook_url: str | None, **sections: dict[str, Any]) -> Any:
    overrides = {name: {k: v for k, v in fields.items() if v is not None} for name, fields in sections.items()}
    if webhook_url:
        overrides["alerts"] = {"webhook_url": webhook_url}
    return load_config(config).for_model(model, **overrides)


def drift_budget_line(d: DriftOptions) -> str:
    """The false-alarm figure a drift-free stream implies, printed at start-up."""
    per_day = d.alpha * d.windows_per_day * d.sources
    return (
        f"{d.windows_per_day:g} windows a day x {d.sources} source(s) x alpha {d.alpha:.3g}: "
        f"at most {per_day:.3g} false alarms a day expected, a false alarm on at most {min(per_day, 1.0):.1%} of days"
    )


def concept_budget_line(c: ConceptOptions) -> str:
    per_day = c.alpha * c.windows_per_day
    return (
        f"concept drift: {c.windows_per_day:g} windows a day x alpha {c.alpha:.3g} per version: "
        f"a false alarm on at most {min(per_day, 1.0):.1%} of days"
    )


def _start(name: str, metrics_port: int | None) -> None:
    configure_logging()
    configure(name, metrics_port)
    wait_for_kafka(Settings())


def drift(
    stream: Stream = "transactions",
    model: Model = "fraud",
    config: ConfigFile = None,
    window: Annotated[float | None, typer.Option(help="window length in seconds of event time")] = None,
    slide: Annotated[float | None, typer.Option(help="slide in seconds (sliding windows); unset: tumbling")] = None,
    alpha: Annotated[
        float | None, typer.Option(help="false-alarm probability of one window (default: from the daily budget)")
    ] = None,
    reference: Annotated[
        Path | None,
        typer.Option(help="reference profile (.json) or training data (.npy, .avro), not the registry's"),
    ] = None,
    webhook_url: Webhook = None,
    metrics_port: MetricsPort = None,
    idle_exit: IdleExit = None,
) -> None:
    """Watch a model's input features and scores for drift against its reference profile."""
    options = _options(config, model, webhook_url, drift={"window_s": window, "slide_s": slide, "alpha": alpha})
    _start(f"scorecast-drift-{stream}", metrics_port)
    stop = stop_on_signals()
    from streams.runtime import drift_processor  # scipy: seconds that `signals show` never needs

    with drift_processor(Settings(), stream, model, options, reference, stop) as worker:
        d = options.drift
        console.print(
            f"drift of {model} on {stream}: windows of {d.window_s:g}s"
            + (f" sliding by {d.slide_s:g}s" if d.slide_s else "")
            + f", alpha {d.alpha:.3g} per window and source"
        )
        console.print(f"  {drift_budget_line(d)}")
        stats = worker.run(stop, idle_exit_s=idle_exit)
    console.print(
        f"{stats.events} events and {stats.scores} scores in {stats.windows} windows; "
        f"{stats.alarms} alarms; {stats.dead_lettered} dead letters"
    )


def promotion(
    stream: Stream = "transactions",
    model: Model = "fraud",
    config: ConfigFile = None,
    alpha: Annotated[float | None, typer.Option(help="error probability of a PROMOTE decision")] = None,
    loss: Annotated[str | None, typer.Option(help="log_loss or brier")] = None,
    horizon: Annotated[float | None, typer.Option(help="seconds a prediction waits for its label")] = None,
    webhook_url: Webhook = None,
    metrics_port: MetricsPort = None,
    idle_exit: IdleExit = None,
) -> None:
    """Join champion, challengers and late labels; decide PROMOTE / HOLD / REJECT with a sequential test."""
    options = _options(config, model, webhook_url, promotion={"alpha": alpha, "loss": loss, "horizon_s": horizon})
    _start(f"scorecast-promotion-{stream}", metrics_port)
    stop = stop_on_signals()
    from streams.runtime import promotion_processor

    with promotion_processor(Settings(), stream, model, options, stop) as worker:
        console.print(
            f"promotion of {model} on {stream}: mSPRT on {options.promotion.loss}, alpha {options.promotion.alpha:g}"
        )
        console.print(f"  {concept_budget_line(options.concept)}")
        stats = worker.run(stop, idle_exit_s=idle_exit)
    decisions = ", ".join(f"v{k.replace(':', ' vs v')}: {v}" for k, v in stats.decisions.items()) or "no decision"
    console.print(
        f"{stats.predictions} predictions, {stats.labels} labels, {stats.pairs} pairs; decisions: {decisions}"
    )


@app.command()
def show(
    model: Model = "fraud",
    limit: Annotated[int, typer.Option(min=1, help="most signals to show")] = 20,
    kind: Annotated[str | None, typer.Option(help="DRIFT, PROMOTION or ALERT")] = None,
    wide: Annotated[bool, typer.Option("--wide", help="every column and all the evidence")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per signal, one per line")] = False,
) -> None:
    """The newest signals of a model, newest window first: a compact table that fits 80 columns by default."""
    settings = Settings()
    with cassandra_session(settings) as session:
        try:
            signals = SignalStore(session).latest(model, limit, kind.upper() if kind else None)
        except InvalidRequest:  # the coordinator knows no such table: the keyspace was never initialised
            raise ConfigError(f"no signals tables in keyspace {settings.keyspace} (run `scorecast init`)") from None
        except DriverException as error:
            raise cassandra_error(error, "reading signals") from None
    if as_json:
        for s in signals:
            typer.echo(json.dumps(s.to_record(), sort_keys=True))
        return
    Console().print(signals_table(signals, wide))


def signals_table(signals: list[Signal], wide: bool = False) -> Table:
    """Compact: when, kind, version, metric, value and a short verdict; ``wide``: the decision and all evidence."""
    if wide:
        table = Table("window end (UTC)", "kind", "version", "metric", "value", "decision", "evidence")
        for s in signals:
            evidence = ", ".join(f"{k}={v}" for k, v in sorted(s.evidence.items()))
            table.add_row(_when(s, "%Y-%m-%d %H:%M:%S"), s.kind, str(s.version or ""), s.metric, f"{s.value:.4g}",
                          s.decision or "", evidence)  # fmt: skip
        return table
    table = Table(
        "end (UTC)",
        "kind",
        "v",
        "metric",
        "value",
        "verdict",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=(0, 1, 0, 0),
    )
    table.columns[3].overflow = "fold"
    for s in signals:
        table.add_row(_when(s, "%m-%d %H:%M:%S"), s.kind, str(s.version or ""), s.metric, f"{s.value:.3g}", verdict(s))
    return table


def verdict(s: Signal) -> str:
    """The few words of a signal's evidence that say what it means."""
    e = s.evidence

    def number(key: str) -> str:
        try:
            return f"{float(e[key]):.2g}"
        except (KeyError, ValueError):
            return "?"

    if s.kind == "PROMOTION":
        return f"{s.decision} n={e.get('n', '?')} ci [{number('ci_low')}, {number('ci_high')}]"
    if s.kind == "ALERT":
        return e.get("message", s.decision or "")
    if s.metric.startswith("drift:"):
        if e.get("tested") == "false":
            return f"untested ({e.get('events', '?')} events)"
        return f"ALARM: {e['flagged']}" if e.get("flagged") else "no drift"
    if s.metric == "log_loss":
        if "p_value" not in e:
            return f"baseline n={e.get('n', '?')}"
        try:
            change = f"{float(e['degradation']):+.0%} loss"
        except (KeyError, ValueError):
            change = ""
        return ("ALARM " if e.get("alarm") == "true" else "") + f"p={number('p_value')} {change}".rstrip()
    flag = "DRIFT " if e.get("flagged") == "true" else ""
    return f"{flag}p={number('p_holm')} psi={number('psi')}"


def _when(s: Signal, form: str) -> str:
    return datetime.fromtimestamp(s.window_end / 1000, UTC).strftime(form)
