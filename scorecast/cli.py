"""The `scorecast` command. Each area adds its own sub-command group; errors end as one line and exit 1.

Every command is named below as "module:attribute" and imported only when it runs (scorecast.lazy_cli): a
worker process imports its own module, not every area's (scipy, rich, ...), which took seconds and ~60 MB.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from scorecast.errors import ScorecastError
from scorecast.lazy_cli import lazy_group
from scorecast.settings import Settings

worker_app = typer.Typer(
    cls=lazy_group(
        {
            "score": "scorers.worker_cli:score",
            "drift": "streams.cli:drift",
            "promotion": "streams.cli:promotion",
            "shadow-tee": "shadow.worker_cli:tee",
            "challengers": "shadow.worker_cli:challengers",
            "shadow-join": "shadow.worker_cli:join",
            "rollout": "scorers.rollouts.cli:worker",
        }
    ),
    help="Long-running stream workers (stop them with SIGTERM or Ctrl-C).",
)
# --help lists these in this order, then init and demo (below: they import what they need in their bodies).
app = typer.Typer(
    cls=lazy_group(
        {
            "infra": "infra.cli:app",
            "models": "scorers.cli:app",
            "api": "lookup_api.cli:serve",
            "api-keys": "lookup_api.cli:keys_app",
            "schemas": "schemas.cli:app",
            "produce": "scorecast.produce_cli:produce",
            "replay": "scorers.replay.cli:replay",
            "worker": "scorecast.cli:worker_app",
            "signals": "streams.cli:app",
            "shadow": "shadow.cli:app",
            "rollout": "scorers.rollouts.cli:app",
        }
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.command()
def init(
    stream: Annotated[list[str] | None, typer.Option(help="stream to create topics for (default: all)")] = None,
) -> None:
    """Create the topics, the keyspace and the tables (idempotent; schema changes are migrations)."""
    from infra.init import initialise

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
