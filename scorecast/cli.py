"""The `scorecast` command. Each area adds its own sub-command group; errors end as one line and exit 1."""

from __future__ import annotations

import sys

import typer

from infra.cli import app as infra_app
from scorecast.errors import ScorecastError

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
app.add_typer(infra_app, name="infra")


def main() -> None:
    try:
        app()
    except ScorecastError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
