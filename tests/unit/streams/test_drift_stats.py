"""Per-column drift statistics against scipy on the same data, and the validity of the binned KS test."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.special import kolmogorov
from scipy.stats import binomtest, chi2_contingency, ks_2samp, kstwo

from schemas.features import Feature, FeatureSpec
from scorers.profile import CategoricalProfile, NumericProfile, ReferenceProfile
from streams.drift_stats import compare, psi
from streams.summary import Layout, Summary

SPEC = FeatureSpec(
    "toy", (Feature("x", "numeric", "double"), Feature("c", "categorical", "enum", ("a", "b", "c", "d")))
)


def layout_of(reference_x: np.ndarray, categories: dict[str, int], quantiles: bool = True) -> Layout:
    """``quantiles=False``: a profile written before quantile summaries existed (binned KS)."""
    x = NumericProfile.of(reference_x)
    x = x if quantiles else dataclasses.replace(x, summary=None)
    profile = ReferenceProfile(len(reference_x), {"x": x}, {"c": CategoricalProfile(categories)}, None)
    return Layout.of_features(SPEC, profile)


def summarise(layout: Layout, x: np.ndarray, c: np.ndarray) -> Summary:
    summary = layout.summary()
    summary.add(layout, np.column_stack([x, c]))
    return summary


def test_binned_ks_of_an_old_profile_is_scipys_ks_on_the_binned_samples() -> None:
    rng = np.random.default_rng(0)
    reference = rng.normal(size=5_000)
    layout = layout_of(reference, {"a": 1, "b": 1, "c": 1, "d": 1}, quantiles=False)
    column = layout.columns[0]
    window = rng.normal(0.3, 1.2, size=800)
    result = compare(column, summarise(layout, window, np.zeros(800)), 0)
    # One representative point per slot (left edge; outside the range, beyond it): same ECDF jumps as the bins.
    points = np.concatenate([[column.edges[0] - 1], column.edges[:-1], [column.edges[-1] + 1]])
    points[-2] = column.edges[-2]
    window_counts = summarise(layout, window, np.zeros(800)).column_counts(column)
    expanded_ref = np.repeat(points, column.reference)
    expanded_win = np.repeat(points, window_counts)
    assert result.statistic == pytest.approx(ks_2samp(expanded_ref, expanded_win).statistic, abs=1e-12)
    # Binning can only hide gaps between the ECDFs: the unbinned statistic is at least as large.
    assert result.statistic <= ks_2samp(reference, window).statistic + 1e-12
    assert result.n == 800
    assert result.reference_n == 5_000
    assert result.mean_shift_sd == pytest.approx(0.3, abs=0.1)
    assert result.wasserstein_sd is None  # bins could only give a biased figure


@pytest.mark.parametrize("n", [50, 200, 1_000, 5_000])
def test_the_kolmogorov_limit_is_conservative_against_the_exact_law(n: int) -> None:
    for p in (0.2, 0.05, 0.01, 0.001):
        d = kstwo.isf(p, n)
        assert kolmogorov(np.sqrt(n) * d) >= p


@pytest.mark.parametrize("quantiles", [True, False])
def test_ks_holds_its_level_on_continuous_and_on_tied_data(quantiles: bool) -> None:
    rng = np.random.default_rng(2)
    alpha, trials = 0.05, 400
    for draw in (lambda k: np.asarray(rng.normal(size=k)), lambda k: np.round(rng.exponential(3.0, size=k))):
        layout = layout_of(draw(20_000), {"a": 1, "b": 1, "c": 1, "d": 1}, quantiles)
        rejections = 0
        for _ in range(trials):
            summary = summarise(layout, draw(400), np.zeros(400))
            rejections += compare(layout.columns[0], summary, 0).p_value <= alpha
        assert binomtest(rejections, trials, alpha, alternative="greater").pvalue > 0.01


def test_chi_square_and_jensen_shannon_are_scipys() -> None:
    layout = layout_of(np.arange(100.0), {"a": 400, "b": 300, "c": 200, "d": 100})
    c = np.repeat([0, 1, 2, 3], [30, 30, 20, 20])
    result = compare(layout.columns[1], summarise(layout, np.zeros(100), c), 1)
    table = np.array([[400, 300, 200, 100], [30, 30, 20, 20]])
    expected = chi2_contingency(table, correction=True)
    assert result.test == "chi2"
    assert result.statistic == pytest.approx(expected.statistic)
    assert result.p_value == pytest.approx(expected.pvalue)
    assert result.js_distance == pytest.approx(jensenshannon(table[0], table[1], base=2))


def test_sparse_categories_are_pooled_before_chi_square() -> None:
    layout = layout_of(np.arange(100.0), {"a": 6_000, "b": 3_600, "c": 200, "d": 200})
    c = np.repeat([0, 1, 2, 3], [120, 72, 4, 4])
    result = compare(layout.columns[1], summarise(layout, np.zeros(200), c), 1)
    # c and d each expect 4 in the window: pooled into one column, which expects 8
    pooled = np.array([[6_000, 3_600, 400], [120, 72, 8]])
    assert result.statistic == pytest.approx(chi2_contingency(pooled, correction=True).statistic)
    assert result.p_value == pytest.approx(chi2_contingency(pooled, correction=True).pvalue)


def test_psi_is_zero_for_equal_shares_symmetric_and_grows_with_the_shift() -> None:
    r = np.array([100.0, 200.0, 300.0, 400.0])
    assert psi(r, r * 3) == pytest.approx(0.0, abs=1e-3)
    w = np.array([400.0, 300.0, 200.0, 100.0])
    assert psi(r, w) == pytest.approx(psi(w, r))
    assert psi(r, w) > psi(r, np.array([150.0, 200.0, 300.0, 350.0])) > 0
