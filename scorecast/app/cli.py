"""The `scorecast` command. Each area adds its own sub-command group; errors end as one line and exit 1.

``main`` is the one error boundary: a ScorecastError (ServiceUnavailableError names the service and the
setting to check), invalid settings, or a driver error that escaped translation is printed as one line
on stderr, exit 1; anything else is a bug and keeps its traceback.

Every command is named below as "module:attribute" and imported only when it runs (scorecast.app.lazy_cli): a
worker process imports its own module, not every area's (scipy, rich, ...), which took seconds and ~60 MB.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from pydantic import ValidationError

from scorecast.app.lazy_cli import lazy_group
from scorecast.errors import ConfigError, ScorecastError
from scorecast.settings import Settings

# Each sets up logging (scorecast.process.configure_logging) and stops on SIGTERM/SIGINT (stop_on_signals).
WORKER_COMMANDS = {
    "score": "scorers.worker_cli:score",
    "drift": "streams.cli:drift",
    "promotion": "streams.cli:promotion",
    "shadow-tee": "shadow.worker_cli:tee",
    "challengers": "shadow.worker_cli:challengers",
    "shadow-join": "shadow.worker_cli:join",
    "rollout": "scorers.rollouts.cli:worker",
}
worker_app = typer.Typer(
    cls=lazy_group(WORKER_COMMANDS),
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
            "produce": "scorecast.app.produce_cli:produce",
            "replay": "scorers.replay.cli:app",
            "worker": "scorecast.app.cli:worker_app",
            "signals": "streams.cli:app",
            "shadow": "shadow.cli:app",
            "rollout": "scorers.rollouts.cli:app",
        }
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="debug logs, librdkafka's included")] = False,
) -> None:
    Settings()  # invalid SCORECAST_* variables: one line before any command imports its area (seconds)
    if verbose:
        from scorecast.process import LOG_LEVEL_VARIABLE, configure_logging

        os.environ[LOG_LEVEL_VARIABLE] = "DEBUG"  # workers configure logging from it, and so do child processes
        configure_logging()


@app.command()
def init(
    stream: Annotated[list[str] | None, typer.Option(help="stream to create topics for (default: all)")] = None,
) -> None:
    """Create the topics, the keyspace and the tables (idempotent; schema changes are migrations)."""
    from infra.init import initialise
    from scorecast.io.kafka import require_kafka

    settings = Settings()
    require_kafka(settings)  # topics come first: one line now, not a traceback after the admin's timeouts
    result = initialise(settings, stream)
    print(
        f"topics created: {len(result.topics_created)}; migrations applied: "
        + (", ".join(f"{m.version:04d}_{m.name}" for m in result.migrations_applied) or "none")
    )


@app.command()
def demo(
    events: Annotated[int, typer.Option(help="synthetic transactions to produce and score")] = 20_000,
) -> None:
    """Run the whole pipeline on local Kafka and Cassandra: services, models, events, scoring, lookups."""
    from scorecast.app.demo import run_demo

    run_demo(Settings(), events=events)


def main() -> None:
    try:
        app()
    except ScorecastError as error:
        _fail(error)
    except ValidationError as error:
        _fail(settings_error(error))
    except Exception as error:
        from scorecast.io.errors import transport_error

        translated = transport_error(error)
        if translated is None:
            raise
        _fail(translated)


def _fail(error: Exception) -> None:
    print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
    sys.exit(1)


def settings_error(error: ValidationError) -> ConfigError:
    """One line naming each invalid SCORECAST_* variable and what it must be."""
    prefix = "SCORECAST_" if error.title == "Settings" else f"{error.title}."
    problems = []
    for item in error.errors():
        name = prefix + "_".join(str(part) for part in item["loc"]).upper() if item["loc"] else error.title
        value = f"={item['input']!r}" if isinstance(item.get("input"), str | int | float) else ""
        problems.append(f"{name}{value}: {item['msg']}")
    return ConfigError("invalid setting " + "; ".join(problems))
