"""One column of one window against its reference: the test that gates an alarm, and effect sizes beside it.

Gating tests (each a level-alpha test on its own; streams.multiple combines them across columns):
- continuous numeric columns: two-sample Kolmogorov-Smirnov on the KLL quantile sketches of the reference and
  the window (streams.drift_quantiles): the statistic is the largest gap between the two sketched CDFs. The
  p-value is the Kolmogorov limit law at sqrt(n*m/(n+m))*D (``scipy.special.kolmogorov``), slightly
  conservative against the exact law at these sizes and a thousand times faster than ``kstwo``. The sketches'
  rank error (KLL k = 1000) is not added to D: simulation shows the level and power of scipy's test on the raw
  samples (tests/unit/streams/test_drift_quantiles.py). A reference profile written before sketches existed
  falls back to KS on its bins: a gap over the bin edges is at most the unbinned one, so that test is
  conservative (and weaker).
- categorical columns and numeric columns with one bin per value (booleans, small integer sets):
  chi-square test of homogeneity of the 2xK table reference vs window (``chi2_contingency``), cells expected
  below 5 pooled, Yates' correction when two cells remain.
Effect sizes (no error-rate claim, reported and used as optional alarm floors): PSI on the reference bins,
Wasserstein-1 in reference standard deviations (on the sketches; on the values themselves for per-value
columns; none for an old profile's continuous column, whose bins could only give a biased figure), mean shift
in reference standard deviations (numeric), Jensen-Shannon distance (base 2, categorical).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.distance import jensenshannon
from scipy.special import kolmogorov, rel_entr
from scipy.stats import chi2_contingency, wasserstein_distance

from streams import drift_quantiles
from streams.drift_quantiles import WeightedSample
from streams.summary import Column, Summary

# Pseudo-count added to every bin before PSI: keeps PSI finite when a bin is empty on one side.
PSI_PSEUDO_COUNT = 0.5
# Cochran's rule: chi-square cells expected below this are pooled.
MIN_EXPECTED = 5.0


@dataclass(frozen=True)
class ColumnResult:
    name: str
    test: str  # "ks" or "chi2"
    n: int  # window values compared
    reference_n: int
    statistic: float  # KS distance or chi-square statistic
    p_value: float
    psi: float
    wasserstein_sd: float | None  # numeric only
    mean_shift_sd: float | None  # numeric only
    js_distance: float | None  # chi-square columns only
    invalid: int  # non-finite or unknown values, counted and excluded

    @property
    def metric(self) -> str:
        return f"{self.test}:{self.name}"


def compare(column: Column, summary: Summary, j: int) -> ColumnResult:
    """Column ``j`` of ``summary`` against its reference (the caller checks there is enough data)."""
    window = summary.column_counts(column).astype(np.float64)
    reference = column.reference.astype(np.float64)
    n, m = int(window.sum()), int(reference.sum())
    folded_w, folded_r = _fold(column, window), _fold(column, reference)
    sketch = summary.sketches.get(j)
    wasserstein = mean_shift = None
    if column.test == "ks" and column.quantiles is not None and sketch is not None:
        sample = WeightedSample.of(sketch)
        statistic, p_value = drift_quantiles.ks_test(column.quantiles, sample)
        wasserstein = drift_quantiles.wasserstein(column.quantiles, sample) / column.ref_std
        js = None
    elif column.test == "ks":  # an old profile without a sketch: the conservative binned test
        statistic = float(np.max(np.abs(np.cumsum(reference) / m - np.cumsum(window) / n)))
        p_value = float(kolmogorov(np.sqrt(n * m / (n + m)) * statistic))
        js = None
    else:
        table = _pool_sparse(np.vstack([folded_r, folded_w]))
        if table.shape[1] < 2:  # one category on both sides: nothing can differ
            statistic, p_value = 0.0, 1.0
        else:
            # Yates' correction (2 cells only) keeps the 1-df test at or below its level for rare booleans.
            result = chi2_contingency(table, correction=True)
            statistic, p_value = float(result.statistic), float(result.pvalue)
        js = float(jensenshannon(folded_r, folded_w, base=2))
        if column.kind == "numeric":  # per-value bins: each bin is one value, so Wasserstein is exact
            points = _per_value_points(column, summary, j)
            wasserstein = float(wasserstein_distance(points, points, reference, window)) / column.ref_std
    if column.kind == "numeric":
        mean_shift = float(summary.sums[j, 0] / n)
    return ColumnResult(
        name=column.name,
        test=column.test,
        n=n,
        reference_n=m,
        statistic=statistic,
        p_value=min(1.0, max(0.0, p_value)),
        psi=psi(folded_r, folded_w),
        wasserstein_sd=wasserstein,
        mean_shift_sd=mean_shift,
        js_distance=js,
        invalid=int(summary.invalid[j]),
    )


def column_psi(column: Column, summary: Summary) -> float:
    """``compare``'s PSI alone, from the bin counts: what a backtest needs beside a sketch's KS p-value."""
    window = summary.column_counts(column).astype(np.float64)
    return psi(_fold(column, column.reference.astype(np.float64)), _fold(column, window))


def psi(reference: np.ndarray, window: np.ndarray) -> float:
    """Population stability index: KL(w‖r) + KL(r‖w) on smoothed bin shares."""
    r = reference + PSI_PSEUDO_COUNT
    w = window + PSI_PSEUDO_COUNT
    r, w = r / r.sum(), w / w.sum()
    return float(np.sum(rel_entr(w, r) + rel_entr(r, w)))


def _pool_sparse(table: np.ndarray) -> np.ndarray:
    """Pool the columns whose expected count is below 5 in either row, so the chi-square law applies."""
    table = table[:, table.sum(axis=0) > 0]
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    sparse = expected.min(axis=0) < MIN_EXPECTED
    if not sparse.any():
        return table
    pooled = np.column_stack([table[:, ~sparse], table[:, sparse].sum(axis=1)])
    if pooled.shape[1] > 2 and (np.outer(pooled.sum(axis=1), pooled[:, -1]) / pooled.sum()).min() < MIN_EXPECTED:
        # Still too small: fold it into the smallest of the other columns.
        smallest = int(np.argmin(pooled[:, :-1].sum(axis=0)))
        pooled[:, smallest] += pooled[:, -1]
        pooled = pooled[:, :-1]
    return pooled


def _fold(column: Column, counts: np.ndarray) -> np.ndarray:
    """Numeric columns: under/overflow joins the outer bins (the profile's convention for PSI and chi-square)."""
    if column.kind == "categorical":
        return counts
    folded = counts[1:-1].copy()
    folded[0] += counts[0]
    folded[-1] += counts[-1]
    return folded


def _per_value_points(column: Column, summary: Summary, j: int) -> np.ndarray:
    """A point per slot of a per-value column: its value; beyond the training range, the window's extremes."""
    edges = column.edges
    low = min(float(summary.low[j]), float(edges[0]))
    high = max(float(summary.high[j]), float(edges[-2]))
    return np.concatenate([[low], edges[:-1], [high]])
