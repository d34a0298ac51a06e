"""`scorecast worker score`: run a scorer agent until SIGTERM/SIGINT (or until idle, with --idle-exit)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from scorecast.io.kafka import wait_for_kafka
from scorecast.process import configure_logging, stop_on_signals
from scorecast.settings import Settings
from scorecast.telemetry import configure
from scorers.worker import WorkerConfig, scorer_worker

console = Console(stderr=True)


def score(
    stream: Annotated[str, typer.Option(help="stream whose events to score")] = "transactions",
    model: Annotated[str, typer.Option(help="registered model name")] = "fraud",
    alias: Annotated[str, typer.Option(help="alias whose version(s) score: champion, or challenger for shadow")] = (
        "champion"
    ),
    source: Annotated[str, typer.Option(help="topic kind to consume: events or shadow")] = "events",
    sink: Annotated[str, typer.Option(help="topic kind to produce predictions to")] = "predictions",
    batch_max: Annotated[int, typer.Option(help="most events per micro-batch")] = 2000,
    metrics_port: Annotated[int | None, typer.Option(help="serve Prometheus metrics on this port")] = None,
    idle_exit: Annotated[
        float | None, typer.Option(help="exit once partitions were held and no event came for this many seconds")
    ] = None,
    instance_id: Annotated[
        str | None, typer.Option(help="static group member id: a restarted worker gets its partitions back at once")
    ] = None,
) -> None:
    """Score a stream with the model version(s) an alias points at, following alias changes live."""
    configure_logging()
    configure(f"scorecast-scorer-{stream}", metrics_port)
    settings = Settings()
    wait_for_kafka(settings)  # started with nothing reachable: exit, don't spin
    config = WorkerConfig(
        stream=stream,
        model=model,
        alias=alias,
        source=source,
        sink=sink,
        batch_max=batch_max,
        instance_id=instance_id,
    )
    stop = stop_on_signals()
    with scorer_worker(settings, config, stop) as worker:
        console.print(
            f"scoring {settings.topic(stream, source)} with {model}@{alias} (group {settings.group_id(config.group)})"
        )
        stats = worker.run(stop, idle_exit_s=idle_exit)
    console.print(
        f"scored {stats.scored} events in {stats.batches} batches; {stats.dead_lettered} dead letters; "
        f"{stats.retries} write retries"
        + (f"; quarantined {', '.join(f'{model}@{v}' for v in stats.quarantined)}" if stats.quarantined else "")
    )
