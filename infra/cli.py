"""`scorecast infra ...`: start, inspect and stop the local Kafka and Cassandra."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from infra.local import LocalCluster
from scorecast.settings import Settings

app = typer.Typer(help="Run real Kafka and Cassandra on this machine (jars from Maven Central, no Docker).")
console = Console()


@app.command()
def up() -> None:
    """Start Kafka and Cassandra if they are not running, and wait until both answer."""
    cluster = LocalCluster(Settings())
    with console.status("starting Kafka and Cassandra (the first run downloads the jars)..."):
        statuses = cluster.up()
    for status in statuses:
        console.print(f"[green]✓[/] {status.name:<10} {status.endpoint}  pid {status.pid}")


@app.command()
def status() -> None:
    """Show whether each service runs and answers."""
    down = False
    for s in LocalCluster(Settings()).status():
        state = "[green]ready[/]" if s.ready else ("[yellow]starting[/]" if s.pid else "[red]stopped[/]")
        console.print(f"{s.name:<10} {state:<20} {s.endpoint}  pid {s.pid or '-'}")
        down = down or not s.ready
    raise typer.Exit(1 if down else 0)


@app.command()
def logs(
    service: Annotated[str, typer.Argument(help="kafka or cassandra")] = "kafka",
    lines: Annotated[int, typer.Option("--lines", "-n")] = 50,
) -> None:
    """Print the last lines of a service's log."""
    path = LocalCluster(Settings()).log_path(service)
    text = path.read_text(errors="replace").splitlines() if path.exists() else []
    console.print(f"[dim]{path}[/]")
    print("\n".join(text[-lines:]))


@app.command()
def down(purge: Annotated[bool, typer.Option(help="also delete data, logs and config")] = False) -> None:
    """Stop both services cleanly (SIGTERM, then SIGKILL after a grace period)."""
    LocalCluster(Settings()).down(purge=purge)
    console.print("stopped" + (" and purged" if purge else ""))
