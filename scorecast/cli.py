"""The `scorecast` command. Each area adds its own sub-command group; errors end as one line and exit 1."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from infra.cli import app as infra_app
from infra.init import initialise
from lookup_api.cli import keys_app, serve
from schemas.cli import app as schemas_app
from scorecast.errors import ScorecastError
from scorecast.produce_cli import produce
from scorecast.settings import Settings
from scorers.cli import app as models_app
from scorers.replay.cli import replay
from scorers.rollouts import cli as rollout_cli
from scorers.worker_cli import score
from shadow import worker_cli as shadow_workers
from shadow.cli import app as shadow_app
from streams import cli as streams_cli

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
app.add_typer(infra_app, name="infra")
app.add_typer(models_app, name="models")
app.command("api")(serve)
app.add_typer(keys_app, name="api-keys")
app.add_typer(schemas_app, name="schemas")
app.command()(produce)
app.command()(replay)
worker_app = typer.Typer(help="Long-running stream workers (stop them with SIGTERM or Ctrl-C).")
worker_app.command("score")(score)
worker_app.command("drift")(streams_cli.drift)
worker_app.command("promotion")(streams_cli.promotion)
worker_app.command("shadow-tee")(shadow_workers.tee)
worker_app.command("challengers")(shadow_workers.challengers)
worker_app.command("shadow-join")(shadow_workers.join)
worker_app.command("rollout")(rollout_cli.worker)
app.add_typer(worker_app, name="worker")
app.add_typer(streams_cli.app, name="signals")
app.add_typer(shadow_app, name="shadow")
app.add_typer(rollout_cli.app, name="rollout")


@app.command()
def init(
    stream: Annotated[list[str] | None, typer.Option(help="stream to create topics for (default: all)")] = None,
) -> None:
    """Create the topics, the keyspace and the tables (idempotent; schema changes are migrations)."""
    result = initialise(Settings(), stream)
    print(
        f"topics created: {len(result.topics_created)}; migrations applied: "
        + (", ".join(f"{m.version:04d}_{m.name}" for m in result.migrations_applied) or "none")
    )


@app.command()
def demo(
    events: Annotated[int, typer.Option(help="synthetic transactions to produce and score")] = 20_000,
) -> None:
    """Run the whole pipeline on local Kafka and Cassandra: services, models, events, scoring, lookups."""
    from scorecast.demo import run_demo

    run_demo(Settings(), events=events)


def main() -> None:
    try:
        app()
    except ScorecastError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
