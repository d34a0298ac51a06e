"""`scorecast worker shadow-tee | challengers | shadow-join`: the shadow path's long-running workers.

Each is its own process with its own consumer group, so a slow or failing challenger never holds back the
champion: the champion's scorer neither produces to nor waits on anything of the shadow path.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from scorecast.errors import ScorecastError
from scorecast.io.kafka import wait_for_kafka
from scorecast.process import configure_logging, stop_on_signals
from scorecast.settings import Settings
from scorecast.telemetry import configure
from scorers.worker_cli import score
from shadow.join import JoinConfig
from shadow.join_worker import shadow_joiner
from shadow.tee import ShadowTee, TeeConfig

console = Console(stderr=True)
Stream = Annotated[str, typer.Option(help="stream name")]
Model = Annotated[str, typer.Option(help="registered model name")]
BatchMax = Annotated[int, typer.Option(help="most records per micro-batch")]
MetricsPort = Annotated[int | None, typer.Option(help="serve Prometheus metrics on this port")]
IdleExit = Annotated[
    float | None, typer.Option(help="exit once partitions were held and nothing came for this many seconds")
]
InstanceId = Annotated[str | None, typer.Option(help="static group member id (e.g. the pod name)")]


def _logging() -> None:
    configure_logging()


def tee(
    stream: Stream = "transactions",
    sample: Annotated[float, typer.Option(help="fraction of entities copied, chosen by a hash of entity_id")] = 1.0,
    salt: Annotated[str, typer.Option(help="another salt draws another sample of entities")] = "",
    batch_max: BatchMax = 2000,
    metrics_port: MetricsPort = None,
    idle_exit: IdleExit = None,
    instance_id: InstanceId = None,
) -> None:
    """Copy <stream>.events to <stream>.shadow (all, or a deterministic sample of entities) for challengers."""
    if not 0.0 <= sample <= 1.0:
        raise ScorecastError(f"--sample must be within [0, 1], not {sample}")
    _logging()
    configure(f"scorecast-shadow-tee-{stream}", metrics_port)
    settings = Settings()
    wait_for_kafka(settings)
    config = TeeConfig(stream=stream, sample=sample, salt=salt, batch_max=batch_max, instance_id=instance_id)
    worker = ShadowTee(settings, config)
    console.print(
        f"copying {settings.topic(stream, 'events')} to {settings.topic(stream, 'shadow')} "
        f"(sample {sample:g}, group {config.group})"
    )
    stats = worker.run(stop_on_signals(), idle_exit_s=idle_exit)
    console.print(
        f"copied {stats.copied} of {stats.consumed} events in {stats.batches} batches; {stats.retries} retries"
    )


def challengers(
    stream: Stream = "transactions",
    model: Model = "fraud",
    batch_max: BatchMax = 2000,
    metrics_port: MetricsPort = None,
    idle_exit: IdleExit = None,
    instance_id: InstanceId = None,
) -> None:
    """Score <stream>.shadow with every challenger version (= worker score --alias challenger --source shadow
    --sink shadow-predictions)."""
    score(
        stream=stream,
        model=model,
        alias="challenger",
        source="shadow",
        sink="shadow-predictions",
        batch_max=batch_max,
        metrics_port=metrics_port,
        idle_exit=idle_exit,
        instance_id=instance_id,
    )


def join(
    stream: Stream = "transactions",
    model: Model = "fraud",
    champion_group: Annotated[
        str | None, typer.Option(help="consumer group of the champion scorer (default: its default group)")
    ] = None,
    max_wait: Annotated[float, typer.Option(help="seconds a batch waits for a champion that is behind")] = 120.0,
    batch_max: BatchMax = 2000,
    metrics_port: MetricsPort = None,
    idle_exit: IdleExit = None,
    instance_id: InstanceId = None,
) -> None:
    """Join challenger predictions with the champion's (by event) into Cassandra for `scorecast shadow report`."""
    _logging()
    configure(f"scorecast-shadow-join-{stream}", metrics_port)
    settings = Settings()
    wait_for_kafka(settings)
    config = JoinConfig(
        stream=stream,
        model=model,
        champion_group=champion_group,
        max_wait_s=max_wait,
        batch_max=batch_max,
        instance_id=instance_id,
    )
    stop = stop_on_signals()
    with shadow_joiner(settings, config, stop) as joiner:
        console.print(
            f"joining {settings.topic(stream, 'shadow-predictions')} with {model}'s champion (group {config.group})"
        )
        stats = joiner.run(stop, idle_exit_s=idle_exit)
    console.print(
        f"joined {stats.joined} of {stats.received} challenger predictions; {stats.champion_missing} not scored by "
        f"the champion, {stats.unmatched} unmatched, {stats.dead_lettered} dead letters; "
        f"{stats.champion_reads} champion predictions read from Cassandra"
    )
