"""The backtest report: one self-contained HTML file, every plot a matplotlib PNG embedded as base64."""

from __future__ import annotations

import base64
import html
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: render to memory only

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from scorers.replay.findings import Findings, Key
from scorers.replay.metrics import Drift, Metrics

PSI_WATCH, PSI_ACT = 0.1, 0.25  # the usual PSI reading: below 0.1 stable, above 0.25 a real shift


def label(key: Key) -> str:
    return f"{key[0]}@{key[1]}"


def when(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    plt.close(figure)
    return f'<img alt="" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def _mid_times(findings: Findings) -> Any:
    mids = (findings.edges[:-1] + findings.edges[1:]) / 2
    return [datetime.fromtimestamp(m / 1000, UTC) for m in mids]


def metrics_over_time(findings: Findings) -> str:
    figure, axes = plt.subplots(1, 3, figsize=(15, 3.6))
    x = _mid_times(findings)
    for key, series in findings.over_time.items():
        for ax, name in zip(axes, ("auc", "log_loss", "brier"), strict=True):
            values = [getattr(m, name) for m in series]
            ax.plot(x, [np.nan if v is None else v for v in values], marker="o", ms=3, label=label(key))
    for ax, title in zip(axes, ("AUC", "log loss", "Brier score"), strict=True):
        ax.set_title(title)
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    return _png(figure)


def calibration_plot(findings: Findings) -> str:
    figure, ax = plt.subplots(figsize=(5, 4.6))
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="perfect")
    for key, curve in findings.calibration.items():
        if curve is not None:
            ax.plot(curve.predicted, curve.observed, marker="o", ms=3, label=label(key))
    ax.set_xscale("symlog", linthresh=0.01)
    ax.set_yscale("symlog", linthresh=0.01)
    ax.set(xlabel="mean predicted score", ylabel="observed positive rate", title="Calibration (quantile bins)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _png(figure)


def score_plot(findings: Findings) -> str:
    figure, ax = plt.subplots(figsize=(6, 4.6))
    bins = np.linspace(0.0, 1.0, 51)
    for key, scores in findings.score_samples.items():
        ax.hist(scores, bins=bins.tolist(), histtype="step", lw=1.5, label=label(key))
    ax.set_yscale("log")
    ax.set(xlabel="score", ylabel="events (sampled)", title="Score distribution")
    ax.legend(fontsize=8)
    return _png(figure)


def drift_heatmap(findings: Findings, drift: Drift, title: str) -> str:
    figure, ax = plt.subplots(figsize=(12, 0.32 * len(drift.columns) + 1.6))
    image = ax.imshow(drift.psi, aspect="auto", cmap="magma_r", vmin=0.0, vmax=max(PSI_ACT * 2, np.nanmax(drift.psi)))
    ax.set_yticks(range(len(drift.columns)), drift.columns, fontsize=8)
    ticks = range(0, len(findings.edges) - 1, max(1, (len(findings.edges) - 1) // 6))
    short = findings.edges[-1] - findings.edges[0] < 86_400_000  # within a day the date says nothing
    names = [when(findings.edges[i])[11:19] if short else when(findings.edges[i])[5:16] for i in ticks]
    ax.set_xticks(list(ticks), names, fontsize=8)
    ax.set_title(title)
    figure.colorbar(image, ax=ax, label="PSI")
    return _png(figure)


def score_drift_plot(findings: Findings) -> str:
    figure, ax = plt.subplots(figsize=(12, 3.2))
    x = _mid_times(findings)
    for key, drift in findings.score_drift.items():
        if drift is not None:
            ax.plot(x, drift.psi[0], marker="o", ms=3, label=label(key))
    for level in (PSI_WATCH, PSI_ACT):
        ax.axhline(level, color="grey", ls=":", lw=1)
    ax.set(ylabel="PSI", title="Score drift against each version's training scores")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _png(figure)


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _metrics_rows(overall: dict[Key, Metrics]) -> str:
    rows = []
    for key, m in overall.items():
        cells = [label(key), f"{m.events:,}", f"{m.labelled:,}", f"{m.positives:,}", _fmt(m.mean_score),
                 _fmt(m.auc), _fmt(m.log_loss), _fmt(m.brier)]  # fmt: skip
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return "\n".join(rows)


def _drift_rows(drift: Drift) -> str:
    rows = []
    for j in np.argsort(-drift.psi_whole):
        worst = np.nanmax(drift.psi[j]) if np.isfinite(drift.psi[j]).any() else np.nan
        p_min = np.nanmin(drift.p_values[j]) if np.isfinite(drift.p_values[j]).any() else np.nan
        flag = "act" if drift.psi_whole[j] > PSI_ACT else "watch" if drift.psi_whole[j] > PSI_WATCH else ""
        cells = [drift.columns[j], drift.tests[j], _fmt(drift.psi_whole[j]), _fmt(worst), f"{p_min:.2g}", flag]
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return "\n".join(rows)


def render(findings: Findings) -> str:
    r = findings.range
    partitions = ", ".join(f"{p.partition}: {p.start}-{p.end}" for p in r.partitions)
    rejects = ", ".join(f"{k}: {v:,}" for k, v in findings.rejects.items()) or "none"
    sections = [
        f"<h1>Backtest of {html.escape(findings.stream)}</h1>",
        "<p>"
        + "<br>".join(
            html.escape(line)
            for line in (
                f"topic {r.topic}, record time {when(r.start_ms)} → {when(r.end_ms)} UTC",
                f"offsets [start, end) per partition: {partitions}",
                f"events scored: {findings.events:,}; rejected: {rejects}",
                f"labelled within the {findings.horizon_ms / 3_600_000:g} h horizon: {findings.labelled:,} "
                f"({findings.labelled / max(findings.events, 1):.1%}); unreadable label records: "
                f"{findings.unreadable_labels:,}",
                f"replay time: {findings.seconds:.1f} s "
                f"({findings.events / max(findings.seconds, 1e-9):,.0f} events/s)",
            )
        )
        + "</p>",
        "<h2>Metrics per version</h2><table><tr><th>version</th><th>events</th><th>labelled</th><th>positives</th>"
        "<th>mean score</th><th>AUC</th><th>log loss</th><th>Brier</th></tr>"
        + _metrics_rows(findings.overall)
        + "</table>",
        "<h2>Metrics over event time</h2>" + metrics_over_time(findings),
        "<h2>Calibration and score distribution</h2>" + calibration_plot(findings) + score_plot(findings),
        f"<h2>Drift over the range</h2><p>PSI per event-time slice against each version's reference profile "
        f"(training data, from the registry); above {PSI_WATCH} watch, above {PSI_ACT} act. p-values: KS on the "
        "reference bins or chi-square, per slice, uncorrected.</p>",
    ]
    if any(d is not None for d in findings.score_drift.values()):
        sections.append(score_drift_plot(findings))
    for key, drift in findings.feature_drift.items():
        if drift is None:
            sections.append(f"<p>{html.escape(label(key))}: no reference profile in the registry, no drift.</p>")
            continue
        if findings.drift_reference.get(key, key) != key:
            continue
        sharing = [label(k) for k, ref in findings.drift_reference.items() if ref == key]
        title = f"Feature PSI against the reference of {', '.join(sharing)}"
        sections.append(f"<h3>{html.escape(title)}</h3>" + drift_heatmap(findings, drift, title))
        sections.append(
            "<table><tr><th>feature</th><th>test</th><th>PSI whole range</th><th>worst slice PSI</th>"
            "<th>smallest p</th><th></th></tr>" + _drift_rows(drift) + "</table>"
        )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>scorecast backtest</title><style>"
        "body{font-family:system-ui,sans-serif;margin:2em;max-width:1300px}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}img{max-width:100%}"
        "</style></head><body>" + "\n".join(sections) + "</body></html>"
    )


def write_report(findings: Findings, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(findings), encoding="utf-8")
