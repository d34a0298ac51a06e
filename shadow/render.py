"""The shadow report as a rich terminal summary and as one self-contained HTML page (plots inlined).

Both show the same cells, formatted once here, so the terminal and the page never disagree.
"""

from __future__ import annotations

import html
import math
from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table

from shadow.report import Comparison, ShadowReport, Summary
from shadow.stats import Interval

Cells = list[tuple[str, str, str, str]]  # (what, champion, challenger, challenger - champion)
METHODS = (
    "AUC intervals: DeLong (paired, with a two-sided test of equal AUCs). Log loss, Brier, precision and "
    "recall intervals: percentile bootstrap of events, paired across both models (scipy.stats.bootstrap). "
    "Latency: the event's Kafka timestamp to each model's scored_at."
)


def _num(x: float, digits: int = 4) -> str:
    return f"{x:.{digits}f}" if math.isfinite(x) else "n/a"


def _p(p: float) -> str:
    return "< 1e-300" if p == 0 else f"{p:.3g}"  # a p-value below the smallest double prints as 0


def _interval(i: Interval) -> str:
    return f"{_num(i.estimate)} [{_num(i.low)}, {_num(i.high)}]"


def _time(ms: int | None) -> str:
    return "open" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


def overview(c: Comparison) -> list[tuple[str, str]]:
    r = c.agreement
    return [
        ("joined events", f"{len(c.rows):,}"),
        ("thresholds (champion, challenger)", f"{_num(c.thresholds[0])}, {_num(c.thresholds[1])}"),
        ("decision agreement", f"{r.rate:.4%}"),
        ("flips up (challenger flags, champion does not)", f"{r.flips_up:,}"),
        ("flips down (champion flags, challenger does not)", f"{r.flips_down:,}"),
        ("Pearson r (p)", f"{_num(c.pearson[0])} ({_p(c.pearson[1])})"),
        ("Spearman rho (p)", f"{_num(c.spearman[0])} ({_p(c.spearman[1])})"),
        ("labelled events (positives)", f"{c.labelled:,} ({c.positives:,})"),
    ]


def side_by_side(c: Comparison) -> Cells:
    cells: Cells = []

    def summaries(what: str, a: Summary | None, b: Summary | None, digits: int) -> None:
        for name in ("mean", "p50", "p95", "p99"):
            x = getattr(a, name) if a else float("nan")
            y = getattr(b, name) if b else float("nan")
            cells.append((f"{what} {name}", _num(x, digits), _num(y, digits), _num(y - x, digits)))

    summaries("score", c.champion_scores, c.challenger_scores, 4)
    summaries("latency ms", c.champion_latency_ms, c.challenger_latency_ms, 1)
    if c.metrics is not None:
        for name, (a, b, d) in c.metrics.metrics.items():
            cells.append((name.replace("_", " "), _interval(a), _interval(b), _interval(d)))
        cells.append(("AUC difference p-value (DeLong)", "", "", _p(c.metrics.auc_p_value)))
    return cells


def title(c: Comparison) -> str:
    return f"challenger v{c.challenger_version} vs champion v{c.champion_version}"


def print_summary(report: ShadowReport, console: Console) -> None:
    config = report.config
    console.print(
        f"[bold]shadow report[/bold] {config.model} on {config.stream}: event time {_time(config.since_ms)} to "
        f"{_time(config.until_ms)}; labels read {report.labels_read:,} ({report.labels_undecodable} undecodable)"
    )
    if not report.comparisons:
        console.print("no joined shadow results in this range")
    for c in report.comparisons:
        summary = Table(title=title(c), show_header=False)
        summary.add_column(justify="left")
        summary.add_column(justify="right")
        for what, value in overview(c):
            summary.add_row(what, value)
        console.print(summary)
        table = Table(show_header=True)
        for column in ("", f"champion v{c.champion_version}", f"challenger v{c.challenger_version}", "difference"):
            table.add_column(column, justify="right" if column else "left")
        for row in side_by_side(c):
            table.add_row(*row)
        console.print(table)
    console.print(f"[dim]{config.confidence:.0%} intervals. {METHODS}[/dim]")


def to_html(report: ShadowReport, figures: list[dict[str, str]]) -> str:
    """One page, no external resources; ``figures[i]`` are the base64 PNGs of ``report.comparisons[i]``."""
    e = html.escape
    config = report.config
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>shadow report: {e(config.model)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Shadow report: {e(config.model)} on {e(config.stream)}</h1>",
        f"<p>Event time {e(_time(config.since_ms))} to {e(_time(config.until_ms))}. Generated "
        f"{e(_time(report.generated_at_ms))}. Labels read: {report.labels_read:,} "
        f"({report.labels_undecodable} undecodable). {config.confidence:.0%} intervals. {e(METHODS)}</p>",
    ]
    if not report.comparisons:
        parts.append("<p>No joined shadow results in this range.</p>")
    for c, images in zip(report.comparisons, figures, strict=True):
        parts.append(f"<section><h2>{e(title(c))}</h2><table class='overview'>")
        parts += [f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in overview(c)]
        parts.append("</table><table><tr><th></th><th>champion</th><th>challenger</th><th>difference</th></tr>")
        parts += ["<tr>" + "".join(f"<td>{e(x)}</td>" for x in row) + "</tr>" for row in side_by_side(c)]
        parts.append("</table><div class='figures'>")
        parts += [
            f"<figure><img alt='{e(name)}' src='data:image/png;base64,{png}'>"
            f"<figcaption>{e(name)}</figcaption></figure>"
            for name, png in images.items()
        ]
        parts.append("</div></section>")
    parts.append("</body></html>")
    return "\n".join(parts)


_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}"
    "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th:first-child,td:first-child{text-align:left}"
    ".figures{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0}figcaption{text-align:center;color:#555}"
)
