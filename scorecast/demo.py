"""`scorecast demo`: the whole pipeline on local Kafka and Cassandra, from nothing, in about a minute.

Services up → topics and tables → example models trained and registered → a synthetic card-transaction stream
produced → scored by the champion's scorer agent → predictions read back from Cassandra and through the
lookup API. Every step is the same code path as production; nothing is simulated. Running it again reuses what
exists (models, offsets) and scores only the new events.
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
from scorecast.io.cassandra import open_cassandra
from scorecast.produce_cli import produce_synthetic
from scorecast.settings import Settings
from scorers.artifacts import open_store
from scorers.registry import Registry
from scorers.worker import WorkerConfig, scorer_worker

STREAM = "transactions"
MODEL = "fraud"
console = Console()


def run_demo(settings: Settings, events: int = 20_000, seed: int = 7) -> None:
    _step("1/6 services")
    if settings.infra_backend == "local":
        from infra.local import LocalCluster

        for status in LocalCluster(settings).up():
            console.print(f"    {status.name:<10} {status.endpoint}  (pid {status.pid})")
    _step("2/6 topics, keyspace and tables")
    result = initialise(settings, [STREAM])
    console.print(
        f"    {len(result.topics_created)} topics created, {len(result.migrations_applied)} migrations applied"
    )
    session = open_cassandra(settings)
    try:
        registry = Registry(session, open_store(settings))
        _step("3/6 models")
        _ensure_models(registry, seed)
        for alias, versions in sorted(registry.aliases(MODEL).items()):
            console.print(f"    {MODEL}@{alias}: version {', '.join(map(str, versions))}")
        _step(f"4/6 producing {events:,} synthetic transactions (labels follow on {STREAM}.labels)")
        started = time.perf_counter()
        produced = produce_synthetic(settings, STREAM, count=events, seed=int(time.time()), labels=True)
        console.print(f"    sent {produced.sent:,} events in {time.perf_counter() - started:.1f}s")
        _step("5/6 scoring with the champion's scorer agent")
        started = time.perf_counter()
        with scorer_worker(settings, WorkerConfig(stream=STREAM, model=MODEL)) as worker:
            stats = worker.run(threading.Event(), idle_exit_s=3.0)
        elapsed = time.perf_counter() - started - 3.0
        console.print(
            f"    scored {stats.scored:,} events in {stats.batches} micro-batches "
            f"({stats.scored / max(elapsed, 1e-3):,.0f} events/s incl. start-up); "
            f"{stats.dead_lettered} dead letters"
        )
        _step("6/6 predictions: Cassandra and the lookup API")
        entities = _show_latest(session, registry)
        with _lookup_api(settings) as base_url:
            token = KeyAdmin(session).create("demo", rate_limit_rps=0)[1]
            response = httpx.get(
                f"{base_url}/v1/predictions/{MODEL}/{entities[0]}", headers={"Authorization": f"Bearer {token}"}
            )
            console.print(f"    GET /v1/predictions/{MODEL}/{entities[0]} → {response.status_code}")
            console.print_json(response.text)
    finally:
        session.cluster.shutdown()
    console.print(
        "\n[bold green]done.[/] Try: scorecast models list · scorecast api · scorecast worker score · "
        "scorecast infra down"
    )


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


def _show_latest(session: Session, registry: Registry) -> list[str]:
    """The latest prediction of a few entities, read the way the lookup API reads them."""
    champion = registry.aliases(MODEL)["champion"][0]
    entities = [
        r.entity_id
        for r in session.execute("SELECT DISTINCT model, version, entity_id FROM predictions LIMIT 200")
        if r.model == MODEL and r.version == champion
    ][:5]
    latest = session.prepare(
        "SELECT entity_id, event_id, event_time, score FROM predictions "
        "WHERE model = ? AND version = ? AND entity_id = ? LIMIT 1"
    )
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
