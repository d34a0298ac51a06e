"""`scorecast infra ...`: start, inspect and stop the local Kafka and Cassandra; probe external ones."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

from infra.external import NOT_MANAGED, probe_external
from infra.local import MAX_NODES, LocalCluster
from scorecast.settings import Settings

app = typer.Typer(help="Run real Kafka and Cassandra on this machine (jars from Maven Central, no Docker).")
console = Console()


@app.command()
def up(
    nodes: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=MAX_NODES,
            help="Kafka brokers and Cassandra nodes, node i on 127.0.0.i: 3 gives replication factor 3 "
            "with 2 in-sync replicas (Kafka) and QUORUM (Cassandra); default: as many as last time (1 at first)",
        ),
    ] = None,
) -> None:
    """Start Kafka and Cassandra if they are not running, and wait until every node answers (external: only
    check that they answer)."""
    settings = Settings()
    if settings.infra_backend == "external":
        print(f"{NOT_MANAGED}: nothing to start")
        _probe(settings)
    cluster = LocalCluster(settings, nodes=nodes)
    with console.status("starting Kafka and Cassandra (the first run downloads the jars)..."):
        statuses = cluster.up()
    for status in statuses:
        console.print(f"[green]✓[/] {status.name:<12} {status.endpoint}  pid {status.pid}")
    if cluster.nodes > 1:
        console.print("clients of this cluster need:")
        for name, value in cluster.client_settings().items():
            print(f"export {name}={value}")


@app.command()
def status() -> None:
    """Show whether each service runs and answers (external: whether it answers); exit 1 if one does not."""
    settings = Settings()
    if settings.infra_backend == "external":
        _probe(settings)
    down = False
    for s in LocalCluster(settings).status():
        state = "[green]ready[/]" if s.ready else ("[yellow]starting[/]" if s.pid else "[red]stopped[/]")
        console.print(f"{s.name:<12} {state:<20} {s.endpoint}  pid {s.pid or '-'}")
        down = down or not s.ready
    raise typer.Exit(1 if down else 0)


@app.command()
def logs(
    service: Annotated[str, typer.Argument(help="kafka or cassandra (or kafka-2, cassandra-3, ...)")] = "kafka",
    lines: Annotated[int, typer.Option("--lines", "-n")] = 50,
) -> None:
    """Print the last lines of a service's log."""
    settings = Settings()
    if settings.infra_backend == "external":
        print(f"{NOT_MANAGED}: their logs are with whoever runs them", file=sys.stderr)
        raise typer.Exit(1)
    path = LocalCluster(settings).log_path(service)
    text = path.read_text(errors="replace").splitlines() if path.exists() else []
    console.print(f"[dim]{path}[/]")
    print("\n".join(text[-lines:]))


@app.command()
def down(purge: Annotated[bool, typer.Option(help="also delete data, logs and config")] = False) -> None:
    """Stop both services cleanly (SIGTERM, then SIGKILL after a grace period); external: nothing to stop."""
    settings = Settings()
    if settings.infra_backend == "external":
        print(f"{NOT_MANAGED}: nothing stopped")  # exit 0: scorecast runs none of them, as `down` promises
        return
    LocalCluster(settings).down(purge=purge)
    console.print("stopped" + (" and purged" if purge else ""))


def _probe(settings: Settings) -> None:
    """One line per external service; exit 0 when every one answers, 1 otherwise."""
    probes = probe_external(settings)
    for probe in probes:
        print(probe.line())
    raise typer.Exit(0 if all(probe.reachable for probe in probes) else 1)
