"""`scorecast shadow report`: challengers against the champion, in the terminal and as an HTML page."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from scorecast.errors import ScorecastError
from scorecast.io.kafka import require_kafka
from scorecast.settings import Settings

app = typer.Typer(no_args_is_help=True, help="Shadow deployment: compare challengers with the champion.")


def parse_time(value: str | None, option: str) -> int | None:
    """ISO 8601 to epoch milliseconds; a time without a zone is UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ScorecastError(f"{option}: {value!r} is not an ISO 8601 time, e.g. 2026-01-31T12:00") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


@app.command()
def report(
    model: Annotated[str, typer.Option(help="registered model name")],
    stream: Annotated[str, typer.Option(help="stream whose labels topic holds the ground truth")] = "transactions",
    since: Annotated[str | None, typer.Option(help="from this event time (ISO 8601, UTC if no zone)")] = None,
    until: Annotated[str | None, typer.Option(help="before this event time (ISO 8601, UTC if no zone)")] = None,
    out: Annotated[Path | None, typer.Option(help="write a self-contained HTML report here")] = None,
    threshold: Annotated[float, typer.Option(help="decision threshold of both models")] = 0.5,
    top_rate: Annotated[
        float | None,
        typer.Option(help="instead of --threshold: each model flags its own top share of events, e.g. 0.01"),
    ] = None,
    confidence: Annotated[float, typer.Option(help="confidence level of the intervals")] = 0.95,
    resamples: Annotated[int, typer.Option(help="bootstrap resamples", min=100)] = 1000,
    seed: Annotated[int, typer.Option(help="seed of the bootstrap")] = 0,
) -> None:
    """Agreement, correlation, flips, score and latency distributions, and labelled metrics with intervals."""
    if top_rate is not None and not 0.0 < top_rate < 1.0:
        raise ScorecastError(f"--top-rate must be within (0, 1), not {top_rate}")
    if not 0.0 < confidence < 1.0:
        raise ScorecastError(f"--confidence must be within (0, 1), not {confidence}")
    settings = Settings()
    require_kafka(settings)  # labels come from Kafka: fail now, not after reading Cassandra
    # imported here, after the checks: scipy and the report take seconds to import
    from shadow.render import print_summary, to_html
    from shadow.report import ReportConfig, build_report

    config = ReportConfig(
        model=model,
        stream=stream,
        since_ms=parse_time(since, "--since"),
        until_ms=parse_time(until, "--until"),
        threshold=threshold,
        top_rate=top_rate,
        confidence=confidence,
        resamples=resamples,
        seed=seed,
    )
    result = build_report(settings, config)
    if not result.comparisons:
        raise ScorecastError(f"no joined shadow results of {model} in this range (is `worker shadow-join` running?)")
    print_summary(result, Console())
    if out is not None:
        try:
            from shadow.plots import figures
        except ImportError as error:
            raise ScorecastError(f"--out needs matplotlib: pip install 'scorecast[report]' ({error})") from None
        out.write_text(to_html(result, [figures(c) for c in result.comparisons]), encoding="utf-8")
        Console(stderr=True).print(f"report written to {out}")
