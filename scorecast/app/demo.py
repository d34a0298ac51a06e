"""`scorecast demo`: the whole pipeline on local Kafka and Cassandra, from nothing, in a minute or two.

Services up → topics and tables → example models trained and registered → a synthetic card-transaction stream
produced, its ``amount`` shifted by one standard deviation from the middle on → scored by the champion's scorer
agent → predictions read back from Cassandra and through the lookup API → the shadow path (tee, challengers,
join) → the drift and promotion processors → what they decided: the drift alarm on ``amount``, the promotion
decisions with their evidence, and the shadow report's verdict. Every step is the same code path as
production; nothing is simulated. Running it again reuses what exists (models, offsets) and processes only
the new events.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import uvicorn
from cassandra.cluster import Session
from rich.console import Console
from rich.table import Table

from infra.init import initialise
from lookup_api.app import create_app
from lookup_api.config import ApiSettings
from lookup_api.keys import KeyAdmin
from schemas.synthetic import DriftConfig
from scorecast.app.produce_cli import produce_synthetic
from scorecast.io.cassandra import open_cassandra
from scorecast.io.cql import select_latest_prediction, select_prediction_partitions
from scorecast.settings import Settings
from scorers.artifacts import open_store
from scorers.registry import Registry
from scorers.worker import WorkerConfig, scorer_worker
from shadow.report import Comparison
from streams.cli import drift_budget_line, signals_table
from streams.config import ModelOptions, StreamsConfig
from streams.signals import Signal
from streams.store import SignalStore

STREAM = "transactions"
MODEL = "fraud"
DRIFTED = "amount"
SHIFT_SD = 1.0
# The demo's stream spans ~events / 200 s of event time: 10 s windows (~2,000 events) close several windows
# (the default 300 s would close none). Lateness 2 s: the generator's events come in time order. Promotion:
# an event is tested once its label horizon (3 days of label time) has closed and the predictions' event time
# has passed it; the labels topic runs days ahead, but the default 10 min prediction lateness would hold back
# every event of a 100 s stream.
DEMO_STREAMS = {
    "drift": {"window_s": 10.0, "lateness_s": 2.0},
    "promotion": {"prediction_lateness_s": 1.0, "report_every": 500},
}
IDLE_EXIT_S = 3.0
console = Console()


def run_demo(settings: Settings, events: int = 20_000, seed: int = 7) -> None:
    _step("1/9 services")
    if settings.infra_backend == "local":
        from infra.local import LocalCluster

        for status in LocalCluster(settings).up():
            console.print(f"    {status.name:<10} {status.endpoint}  (pid {status.pid})")
    _step("2/9 topics, keyspace and tables")
    result = initialise(settings, [STREAM])
    console.print(
        f"    {len(result.topics_created)} topics created, {len(result.migrations_applied)} migrations applied"
    )
    session = open_cassandra(settings)
    try:
        registry = Registry(session, open_store(settings))
        _step("3/9 models")
        _ensure_models(registry, seed)
        for alias, versions in sorted(registry.aliases(MODEL).items()):
            console.print(f"    {MODEL}@{alias}: version {', '.join(map(str, versions))}")
        drift_at = events // 2
        _step(
            f"4/9 producing {events:,} synthetic transactions, {DRIFTED} shifted by {SHIFT_SD:g} SD from event "
            f"{drift_at:,} (labels follow on {STREAM}.labels)"
        )
        started = time.perf_counter()
        drift = DriftConfig(data_drift_at=drift_at, shift={DRIFTED: SHIFT_SD})
        produced = produce_synthetic(settings, STREAM, count=events, seed=int(time.time()), labels=True, drift=drift)
        console.print(f"    sent {produced.sent:,} events in {time.perf_counter() - started:.1f}s")
        _step("5/9 scoring with the champion's scorer agent")
        started = time.perf_counter()
        with scorer_worker(settings, WorkerConfig(stream=STREAM, model=MODEL)) as worker:
            stats = worker.run(threading.Event(), idle_exit_s=IDLE_EXIT_S)
        elapsed = time.perf_counter() - started - IDLE_EXIT_S
        console.print(
            f"    scored {stats.scored:,} events in {stats.batches} micro-batches "
            f"({stats.scored / max(elapsed, 1e-3):,.0f} events/s incl. start-up); "
            f"{stats.dead_lettered} dead letters"
        )
        _step("6/9 predictions: Cassandra and the lookup API")
        entities = _show_latest(session, settings.keyspace, registry)
        with _lookup_api(settings) as base_url:
            token = KeyAdmin(session).create("demo", rate_limit_rps=0)[1]
            response = httpx.get(
                f"{base_url}/v1/predictions/{MODEL}/{entities[0]}", headers={"Authorization": f"Bearer {token}"}
            )
            console.print(f"    GET /v1/predictions/{MODEL}/{entities[0]} → {response.status_code}")
            console.print_json(response.text)
        _step("7/9 shadow path: tee, challengers, join")
        _shadow(settings)
        _step("8/9 drift and promotion processors")
        options = StreamsConfig().for_model(MODEL, **DEMO_STREAMS)
        _processors(settings, options)
        _step("9/9 decisions")
        _decisions(settings, session)
    finally:
        session.cluster.shutdown()
    console.print(
        "\n[bold green]done.[/] Try: scorecast signals show · scorecast shadow report --model fraud · "
        "scorecast models list · scorecast infra down"
    )


def _shadow(settings: Settings) -> None:
    from shadow.join import JoinConfig
    from shadow.join_worker import shadow_joiner
    from shadow.tee import ShadowTee, TeeConfig

    stop = threading.Event()
    tee = ShadowTee(settings, TeeConfig(stream=STREAM)).run(stop, idle_exit_s=IDLE_EXIT_S)
    console.print(f"    tee: copied {tee.copied:,} of {tee.consumed:,} events to {STREAM}.shadow")
    config = WorkerConfig(STREAM, MODEL, alias="challenger", source="shadow", sink="shadow-predictions")
    with scorer_worker(settings, config) as worker:
        scored = worker.run(stop, idle_exit_s=IDLE_EXIT_S)
    console.print(f"    challengers: {scored.scored:,} events scored")
    with shadow_joiner(settings, JoinConfig(stream=STREAM, model=MODEL)) as joiner:
        joined = joiner.run(stop, idle_exit_s=IDLE_EXIT_S)
    console.print(f"    join: {joined.joined:,} challenger predictions joined with the champion's")


def _processors(settings: Settings, options: ModelOptions) -> None:
    from streams.runtime import drift_processor, promotion_processor

    stop = threading.Event()
    d = options.drift
    console.print(f"    drift: windows of {d.window_s:g}s of event time; {drift_budget_line(d)}")
    with drift_processor(settings, STREAM, MODEL, options) as drift:
        drift.run(stop, idle_exit_s=IDLE_EXIT_S)
        found = drift.finish(stop)  # the demo's stream ends here: its last windows are reported too
    console.print(f"    drift: {found.windows} windows closed, {found.alarms} with an alarm")
    with promotion_processor(settings, STREAM, MODEL, options) as promotion:
        decided = promotion.run(stop, idle_exit_s=IDLE_EXIT_S)
    decisions = ", ".join(f"v{k.replace(':', ' vs v')}: {v}" for k, v in decided.decisions.items())
    console.print(f"    promotion: {decided.pairs:,} labelled pairs; {decisions or 'no decision yet'}")


def _decisions(settings: Settings, session: Session) -> None:
    from shadow.report import ReportConfig, build_report

    store = SignalStore(session)
    alarms = [s for s in store.latest(MODEL, 200, "DRIFT") if s.metric.startswith("drift:") and s.value > 0]
    promotions = _newest_per_pair(store.latest(MODEL, 50, "PROMOTION"))
    console.print("    drift alarms (newest first):")
    console.print(signals_table(alarms[:3]) if alarms else "    none")
    console.print("    promotion decisions (the newest per challenger):")
    console.print(signals_table(promotions) if promotions else "    none yet")
    for s in promotions:
        e = s.evidence
        console.print(
            f"    v{s.version} vs v{s.baseline_version}: {s.decision} ({e.get('reason', '')}); {e.get('n')} pairs, "
            f"loss {e.get('challenger_loss', '?')[:7]} vs {e.get('champion_loss', '?')[:7]}, "
            f"{1 - float(e.get('alpha', 0.05)):.0%} CS of the loss difference "
            f"[{float(e.get('ci_low', 'nan')):.4g}, {float(e.get('ci_high', 'nan')):.4g}]",
            soft_wrap=True,
        )
    report = build_report(settings, ReportConfig(model=MODEL, stream=STREAM, resamples=200))
    for c in report.comparisons:
        console.print(f"    shadow report: {shadow_verdict(c)}", soft_wrap=True)


def _newest_per_pair(signals: list[Signal]) -> list[Signal]:
    newest: dict[tuple[int | None, int | None], Signal] = {}
    for s in signals:  # newest first
        newest.setdefault((s.baseline_version, s.version), s)
    return list(newest.values())


def shadow_verdict(c: Comparison) -> str:
    """One line from a shadow comparison: the labelled log-loss difference and what its interval says."""
    head = f"challenger v{c.challenger_version} vs champion v{c.champion_version}, {len(c.rows):,} joined events"
    if c.metrics is None or "log_loss" not in c.metrics.metrics:
        return f"{head}: not enough labels for a verdict"
    _, _, diff = c.metrics.metrics["log_loss"]
    if diff.high < 0:
        verdict = "challenger better (lower log loss)"
    elif diff.low > 0:
        verdict = "challenger worse (higher log loss)"
    else:
        verdict = "no clear difference"
    return f"{head}: log loss difference {diff.estimate:+.4f} [{diff.low:+.4f}, {diff.high:+.4f}] → {verdict}"


def _step(title: str) -> None:
    console.print(f"[bold cyan]▶ {title}[/]")


def _ensure_models(registry: Registry, seed: int) -> None:
    if MODEL in registry.models() and registry.aliases(MODEL).get("champion"):
        console.print("    registered models found; reusing them")
        return
    from scorers.training import register_examples, train_examples

    started = time.perf_counter()
    _, models = train_examples(seed=seed)
    register_examples(registry, models, seed=seed)
    for model in models:
        console.print(f"    trained {model.kind:<9} AUC {model.metrics['auc']:.3f}  → {model.alias}")
    console.print(f"    trained, exported to ONNX and registered in {time.perf_counter() - started:.1f}s")


def _show_latest(session: Session, keyspace: str, registry: Registry) -> list[str]:
    """The latest prediction of a few entities, read the way the lookup API reads them."""
    champion = registry.aliases(MODEL)["champion"][0]
    entities = [
        r.entity_id
        for r in session.execute(select_prediction_partitions(keyspace) + " LIMIT 200")
        if r.model == MODEL and r.version == champion
    ][:5]
    latest = session.prepare(select_latest_prediction(keyspace, "entity_id, event_id, event_time, score"))
    table = Table("entity", "event", "event_time", "score", title=f"latest prediction per card, {MODEL} v{champion}")
    for entity in entities:
        row = session.execute(latest, (MODEL, champion, entity)).one()
        table.add_row(row.entity_id, row.event_id[:8], str(row.event_time), f"{row.score:.4f}")
    console.print(table)
    return entities


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def _lookup_api(settings: Settings) -> Iterator[str]:
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, ApiSettings()), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
