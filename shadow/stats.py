"""The statistics of a shadow comparison, on arrays only (no I/O): agreement, correlation, metrics with CIs.

AUC intervals come from DeLong's method (the fast midrank form of Sun & Xu, 2014), exact and O(n log n):
per-model intervals and the paired challenger - champion difference with its two-sided p-value, which
accounts for both models scoring the same events. Log loss, Brier score, precision and recall get percentile
bootstrap intervals from ``scipy.stats.bootstrap`` with paired resampling of events (so each difference is
the difference on the same resampled events); BCa would need a jackknife of n statistics, too slow at
100k rows. Point estimates are always computed on the full sample, never as bootstrap means.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

EPS = float(np.finfo(np.float64).eps)  # log loss clips probabilities to [eps, 1 - eps], as scikit-learn does
BOOTSTRAPPED = ("log_loss", "brier", "precision", "recall")


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float


@dataclass(frozen=True)
class Agreement:
    rate: float  # both models take the same decision
    flips_up: int  # champion below its threshold, challenger at or above its own
    flips_down: int  # champion at or above, challenger below


def agreement(champion: np.ndarray, challenger: np.ndarray, thresholds: tuple[float, float]) -> Agreement:
    a, b = champion >= thresholds[0], challenger >= thresholds[1]
    return Agreement(float(np.mean(a == b)) if len(a) else float("nan"), int(np.sum(~a & b)), int(np.sum(a & ~b)))


def thresholds_for(
    champion: np.ndarray, challenger: np.ndarray, threshold: float, top_rate: float | None
) -> tuple[float, float]:
    """Decision thresholds: ``threshold`` for both, or each model's (1 - top_rate) score quantile, so both flag
    the same share of events (a fixed review capacity, whatever either model's calibration)."""
    if top_rate is None or not len(champion):
        return threshold, threshold
    q = 1.0 - top_rate
    return float(np.quantile(champion, q)), float(np.quantile(challenger, q))


def delong(
    labels: np.ndarray, champion: np.ndarray, challenger: np.ndarray, confidence: float
) -> tuple[Interval, Interval, Interval, float]:
    """(champion AUC, challenger AUC, challenger - champion, p-value of no difference), DeLong intervals."""
    positive = labels == 1
    m, n = int(positive.sum()), int((~positive).sum())
    scores = np.vstack([champion, challenger])
    aucs, v10, v01 = [], [], []
    for s in scores:
        x, y = s[positive], s[~positive]
        tx, ty, tz = stats.rankdata(x), stats.rankdata(y), stats.rankdata(np.concatenate([x, y]))
        aucs.append((tz[:m].sum() - m * (m + 1) / 2) / (m * n))
        v10.append((tz[:m] - tx) / n)  # per positive: share of negatives it outranks
        v01.append(1.0 - (tz[m:] - ty) / m)  # per negative: share of positives that outrank it
    cov = np.cov(np.array(v10)) / m + np.cov(np.array(v01)) / n
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    auc = np.array(aucs)

    def interval(estimate: float, variance: float) -> Interval:
        half = z * float(np.sqrt(max(variance, 0.0)))
        return Interval(float(estimate), float(estimate - half), float(estimate + half))

    diff = float(auc[1] - auc[0])
    var_diff = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    # Identical rankings have no variance: no evidence of a difference.
    p = float(2 * stats.norm.sf(abs(diff) / np.sqrt(var_diff))) if var_diff > 0 else float(diff == 0)
    return (
        interval(auc[0], cov[0, 0]),
        interval(auc[1], cov[1, 1]),
        interval(diff, var_diff),
        p,
    )


def _row_terms(labels: np.ndarray, scores: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-event log loss, squared error and decision: every bootstrapped metric is a mean or ratio of these."""
    y = labels.astype(np.float64)
    p = np.clip(scores, EPS, 1 - EPS)
    return -(y * np.log(p) + (1 - y) * np.log1p(-p)), (scores - y) ** 2, (scores >= threshold).astype(np.float64)


def _metrics(y: np.ndarray, ll_a: np.ndarray, ll_b: np.ndarray, se_a: np.ndarray, se_b: np.ndarray,
             d_a: np.ndarray, d_b: np.ndarray, axis: int = -1) -> np.ndarray:  # fmt: skip
    """Rows: (champion, challenger, difference) x (log loss, Brier, precision, recall)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        positives = y.sum(axis)
        out = []
        for a, b in (
            (ll_a.mean(axis), ll_b.mean(axis)),
            (se_a.mean(axis), se_b.mean(axis)),
            ((y * d_a).sum(axis) / d_a.sum(axis), (y * d_b).sum(axis) / d_b.sum(axis)),
            ((y * d_a).sum(axis) / positives, (y * d_b).sum(axis) / positives),
        ):
            out += [a, b, b - a]
    return np.stack(out)


@dataclass(frozen=True)
class LabelledMetrics:
    """metric -> (champion, challenger, challenger - champion), each an estimate with its interval."""

    metrics: dict[str, tuple[Interval, Interval, Interval]]
    auc_p_value: float  # DeLong test of equal AUCs


def labelled_metrics(
    labels: np.ndarray,
    champion: np.ndarray,
    challenger: np.ndarray,
    thresholds: tuple[float, float],
    confidence: float,
    resamples: int,
    seed: int,
) -> LabelledMetrics:
    """AUC (DeLong), log loss, Brier, precision and recall at the thresholds (paired percentile bootstrap);
    ``labels`` must hold both classes."""
    a, b = _row_terms(labels, champion, thresholds[0]), _row_terms(labels, challenger, thresholds[1])
    data = (labels.astype(np.float64), a[0], b[0], a[1], b[1], a[2], b[2])
    estimate = _metrics(*data)
    with warnings.catch_warnings():
        # A model that flags nothing at its threshold has a constant recall of 0: a real, reported finding.
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        result = stats.bootstrap(
            data, _metrics, paired=True, vectorized=True, n_resamples=resamples, batch=max(1, min(resamples, 25)),
            confidence_level=confidence, method="percentile", rng=np.random.default_rng(seed),
        )  # fmt: skip
    low, high = result.confidence_interval
    champion_auc, challenger_auc, diff, p_value = delong(labels, champion, challenger, confidence)
    metrics = {"auc": (champion_auc, challenger_auc, diff)}
    for k, name in enumerate(BOOTSTRAPPED):
        a_, b_, d_ = (Interval(float(estimate[i]), float(low[i]), float(high[i])) for i in range(3 * k, 3 * k + 3))
        metrics[name] = (a_, b_, d_)
    return LabelledMetrics(metrics, p_value)
