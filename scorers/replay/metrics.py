"""Backtest statistics: per-version metrics, the same over event-time slices, calibration, and drift.

Metrics come from scikit-learn on the labelled events (AUC, log loss, Brier); AUC is None where a slice
holds one class only. Drift compares each event-time slice with the version's reference profile from the
registry using the stream processors' own statistics (``streams.summary`` bins, ``streams.drift_stats``:
PSI, and KS or chi-square p-values), so a backtest and the live drift monitor agree on what drift means.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

from schemas.features import FeatureSpec
from scorers.profile import NumericProfile, ReferenceProfile
from scorers.replay.results import Backtest
from streams.drift_stats import compare
from streams.summary import Layout

EPS = 1e-6  # scores are clipped before log loss: one confident miss cannot make it infinite


@dataclass(frozen=True)
class Metrics:
    events: int
    labelled: int
    positives: int
    mean_score: float
    auc: float | None
    log_loss: float | None
    brier: float | None


def metrics(scores: np.ndarray, labels: np.ndarray, known: np.ndarray) -> Metrics:
    y = labels[known].astype(np.int64)
    raw = scores[known].astype(np.float64)
    p = np.clip(raw, EPS, 1.0 - EPS)
    mean = float(scores.mean()) if len(scores) else float("nan")
    if len(y) == 0:
        return Metrics(len(scores), 0, 0, mean, None, None, None)
    both = 0 < y.sum() < len(y)
    return Metrics(
        events=len(scores),
        labelled=len(y),
        positives=int(y.sum()),
        mean_score=mean,
        auc=float(roc_auc_score(y, raw)) if both else None,
        log_loss=float(log_loss(y, p, labels=[0, 1])),
        brier=float(brier_score_loss(y, raw)),
    )


def slice_edges(event_times: np.ndarray, slices: int = 12) -> np.ndarray:
    """Equal event-time slices over the replayed events (the last one closed)."""
    low, high = int(event_times.min()), int(event_times.max())
    return np.linspace(low, max(high, low + 1), slices + 1)


def slice_of(event_times: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return np.clip(np.searchsorted(edges, event_times, side="right") - 1, 0, len(edges) - 2)


def over_time(backtest: Backtest, edges: np.ndarray) -> dict[tuple[str, int], list[Metrics]]:
    """Per version, the metrics of each slice."""
    which = slice_of(backtest.event_times, edges)
    order = np.argsort(which, kind="stable")
    bounds = np.searchsorted(which[order], np.arange(len(edges)))
    result: dict[tuple[str, int], list[Metrics]] = {}
    for key, scores in backtest.scores.items():
        result[key] = [
            metrics(scores[rows], backtest.labels[rows], backtest.known[rows])
            for rows in (order[bounds[i] : bounds[i + 1]] for i in range(len(edges) - 1))
        ]
    return result


@dataclass(frozen=True)
class Calibration:
    predicted: np.ndarray  # mean score per bin
    observed: np.ndarray  # fraction of positives per bin


def calibration(scores: np.ndarray, labels: np.ndarray, known: np.ndarray, bins: int = 10) -> Calibration | None:
    """Reliability curve on quantile bins of the labelled events; None without both classes."""
    y = labels[known]
    if len(y) == 0 or y.min() == y.max():
        return None
    observed, predicted = calibration_curve(y, scores[known], n_bins=bins, strategy="quantile")
    return Calibration(np.asarray(predicted), np.asarray(observed))


@dataclass(frozen=True)
class Drift:
    columns: tuple[str, ...]
    tests: tuple[str, ...]  # ks or chi2 per column
    psi: np.ndarray  # (columns, slices); NaN where a slice is empty
    p_values: np.ndarray  # (columns, slices)
    psi_whole: np.ndarray  # (columns,): the whole range against the reference


def feature_drift(backtest: Backtest, edges: np.ndarray, spec: FeatureSpec, profile: ReferenceProfile) -> Drift:
    """Every feature the reference profiles, per slice, against the reference."""
    index = [backtest.feature_names.index(name) for name in spec.names]
    return _drift(Layout.of_features(spec, profile), backtest.features[:, index], backtest.event_times, edges)


def score_drift(scores: np.ndarray, event_times: np.ndarray, edges: np.ndarray, profile: NumericProfile) -> Drift:
    """The version's score distribution per slice against its scores on the training data."""
    return _drift(Layout.of_score(profile), scores.reshape(-1, 1), event_times, edges)


def _drift(layout: Layout, values: np.ndarray, event_times: np.ndarray, edges: np.ndarray) -> Drift:
    which = slice_of(event_times, edges)
    slices = len(edges) - 1
    psi = np.full((len(layout.columns), slices), np.nan)
    p_values = np.full((len(layout.columns), slices), np.nan)
    total = layout.summary()
    for s in range(slices):
        rows = values[which == s]
        if len(rows) == 0:
            continue
        summary = layout.summary()
        summary.add(layout, rows)
        total.merge(summary)
        for j, column in enumerate(layout.columns):
            result = compare(column, summary, j)
            psi[j, s], p_values[j, s] = result.psi, result.p_value
    return Drift(
        tuple(c.name for c in layout.columns),
        tuple(c.test for c in layout.columns),
        psi,
        p_values,
        np.array([compare(c, total, j).psi for j, c in enumerate(layout.columns)]),
    )
