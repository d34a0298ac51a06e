"""The report's figures: matplotlib, rendered to PNG and embedded as base64 (the HTML needs no network).

Figures are built on ``matplotlib.figure.Figure`` directly (no pyplot), so no global figure state or GUI
backend is touched and a report can be rendered from any thread.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from shadow.report import Comparison

CHAMPION, CHALLENGER = "#1f77b4", "#d62728"


def figures(c: Comparison) -> dict[str, str]:
    """title -> base64 PNG, for one comparison."""
    out = {"Score distributions": _png(c, _distributions), "Champion vs challenger score": _png(c, _scatter)}
    if np.isfinite(c.rows.champion_latency_ms).any():
        out["Latency, produce to scored"] = _png(c, _latency)
    if c.metrics is not None:
        out["ROC on labelled events"] = _png(c, _roc)
    return out


def _png(c: Comparison, draw: Callable[[Comparison, Axes], None]) -> str:
    figure = Figure(figsize=(5.2, 3.6))
    draw(c, figure.add_subplot())
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _names(c: Comparison) -> tuple[str, str]:
    return f"champion v{c.champion_version}", f"challenger v{c.challenger_version}"


def _distributions(c: Comparison, ax: Axes) -> None:
    bins = np.linspace(0.0, 1.0, 51).tolist()
    for scores, color, name in zip(
        (c.rows.champion_scores, c.rows.challenger_scores), (CHAMPION, CHALLENGER), _names(c), strict=True
    ):
        ax.hist(scores, bins=bins, alpha=0.55, color=color, label=name)
    for t, color in zip(c.thresholds, (CHAMPION, CHALLENGER), strict=True):
        ax.axvline(t, color=color, linestyle="--", linewidth=1)
    ax.set_yscale("log")  # most events score near 0: a log scale shows the tail
    ax.set_xlabel("score")
    ax.set_ylabel("events")
    ax.legend()


def _scatter(c: Comparison, ax: Axes) -> None:
    cells = ax.hexbin(c.rows.champion_scores, c.rows.challenger_scores, gridsize=50, bins="log", cmap="viridis",
                      extent=(0.0, 1.0, 0.0, 1.0), mincnt=1)  # fmt: skip
    ax.figure.colorbar(cells, ax=ax, label="events")
    ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8)
    ax.axvline(c.thresholds[0], color=CHAMPION, linestyle="--", linewidth=1)
    ax.axhline(c.thresholds[1], color=CHALLENGER, linestyle="--", linewidth=1)
    champion, challenger = _names(c)
    ax.set_xlabel(f"{champion} score")
    ax.set_ylabel(f"{challenger} score")
    ax.set_title(f"agreement {c.agreement.rate:.2%}; flips up {c.agreement.flips_up}, down {c.agreement.flips_down}")


def _latency(c: Comparison, ax: Axes) -> None:
    for latency, color, name in zip(
        (c.rows.champion_latency_ms, c.rows.challenger_latency_ms), (CHAMPION, CHALLENGER), _names(c), strict=True
    ):
        values = np.sort(latency[np.isfinite(latency)])
        ax.plot(values, np.arange(1, len(values) + 1) / len(values), color=color, label=name)
    ax.set_xlabel("milliseconds from produce to scored")
    ax.set_ylabel("share of events")
    ax.legend()


def _roc(c: Comparison, ax: Axes) -> None:
    known = c.labels >= 0
    y = c.labels[known]
    assert c.metrics is not None
    auc = c.metrics.metrics["auc"]
    for scores, color, name, interval in zip(
        (c.rows.champion_scores[known], c.rows.challenger_scores[known]), (CHAMPION, CHALLENGER), _names(c), auc[:2],
        strict=True,
    ):  # fmt: skip
        fpr, tpr = roc_curve(y, scores)
        ax.plot(fpr, tpr, color=color, label=f"{name}, AUC {interval.estimate:.3f}")
    ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(loc="lower right")


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rates, true positive rates) at every distinct score, highest first."""
    order = np.argsort(-scores, kind="stable")
    y, s = labels[order], scores[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # the last row of each run of equal scores
    tp, fp = np.cumsum(y)[last], np.cumsum(1 - y)[last]
    return np.r_[0.0, fp / max(fp[-1], 1)], np.r_[0.0, tp / max(tp[-1], 1)]
