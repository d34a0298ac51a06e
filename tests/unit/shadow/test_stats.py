"""The comparison statistics against scikit-learn and scipy, and the intervals against their promises."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import brier_score_loss, log_loss, precision_score, recall_score, roc_auc_score

from shadow.stats import agreement, delong, labelled_metrics, thresholds_for


def sample(n: int, seed: int, shift: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels and two correlated scores; the second is coarser (ties) and weaker."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.2).astype(np.int64)
    signal = rng.normal(size=n) + shift * y
    a = 1 / (1 + np.exp(-(signal - 1.5)))
    b = np.round(1 / (1 + np.exp(-(0.7 * signal + 0.7 * rng.normal(size=n) - 1.5))), 2)
    return y, a, b


def test_delong_aucs_are_scikit_learns_even_with_ties() -> None:
    y, a, b = sample(3_000, 1)
    champion, challenger, diff, p = delong(y, a, b, 0.95)
    assert champion.estimate == pytest.approx(roc_auc_score(y, a), rel=1e-12)
    assert challenger.estimate == pytest.approx(roc_auc_score(y, b), rel=1e-12)
    assert diff.estimate == pytest.approx(challenger.estimate - champion.estimate, rel=1e-12)
    assert diff.high < 0  # the weaker challenger is detected...
    assert p < 1e-3  # ...with a small p-value


def test_delong_standard_error_matches_a_bootstrap() -> None:
    y, a, b = sample(4_000, 2)
    _, _, diff, _ = delong(y, a, b, 0.95)
    rng = np.random.default_rng(0)
    draws = []
    for _ in range(400):
        i = rng.integers(0, len(y), len(y))
        draws.append(roc_auc_score(y[i], b[i]) - roc_auc_score(y[i], a[i]))
    delong_se = (diff.high - diff.low) / (2 * stats.norm.ppf(0.975))
    assert delong_se == pytest.approx(np.std(draws), rel=0.15)


def test_delong_intervals_cover_the_true_auc_at_their_level() -> None:
    # Positives ~ N(1, 1), negatives ~ N(0, 1): the true AUC is Phi(1 / sqrt 2).
    truth = stats.norm.cdf(1 / np.sqrt(2))
    rng = np.random.default_rng(3)
    covered = 0
    for _ in range(300):
        y = (rng.random(400) < 0.3).astype(np.int64)
        a = rng.normal(size=400) + y
        b = rng.normal(size=400) + y
        champion, _, _, _ = delong(y, a, b, 0.95)
        covered += champion.low <= truth <= champion.high
    assert 0.91 <= covered / 300 <= 0.99


def test_identical_models_show_no_difference() -> None:
    y, a, _ = sample(1_000, 4)
    _, _, diff, p = delong(y, a, a.copy(), 0.95)
    assert (diff.estimate, diff.low, diff.high, p) == (0.0, 0.0, 0.0, 1.0)


def test_labelled_metrics_are_scikit_learns_with_intervals_around_them() -> None:
    y, a, b = sample(5_000, 5)
    result = labelled_metrics(y, a, b, (0.5, 0.4), 0.9, 300, seed=1).metrics
    expected = {
        "log_loss": (log_loss(y, a), log_loss(y, b)),
        "brier": (brier_score_loss(y, a), brier_score_loss(y, b)),
        "precision": (precision_score(y, a >= 0.5), precision_score(y, b >= 0.4)),
        "recall": (recall_score(y, a >= 0.5), recall_score(y, b >= 0.4)),
        "auc": (roc_auc_score(y, a), roc_auc_score(y, b)),
    }
    assert set(result) == set(expected)
    for name, (champion, challenger) in expected.items():
        got = result[name]
        assert (got[0].estimate, got[1].estimate) == pytest.approx((champion, challenger), rel=1e-9), name
        assert got[2].estimate == pytest.approx(challenger - champion, rel=1e-9), name
        for interval in got:
            assert interval.low < interval.estimate < interval.high, name


def test_the_bootstrap_is_reproducible_in_its_seed() -> None:
    y, a, b = sample(2_000, 6)
    first = labelled_metrics(y, a, b, (0.5, 0.5), 0.95, 200, seed=7)
    assert labelled_metrics(y, a, b, (0.5, 0.5), 0.95, 200, seed=7) == first
    assert labelled_metrics(y, a, b, (0.5, 0.5), 0.95, 200, seed=8) != first


def test_agreement_and_flips() -> None:
    a = np.array([0.1, 0.6, 0.7, 0.2, 0.9])
    b = np.array([0.6, 0.1, 0.8, 0.3, 0.5])
    result = agreement(a, b, (0.5, 0.5))
    assert (result.rate, result.flips_up, result.flips_down) == (0.6, 1, 1)


def test_top_rate_thresholds_flag_the_same_share_for_both_models() -> None:
    _, a, b = sample(10_000, 8)
    t = thresholds_for(a, b, 0.5, top_rate=0.05)
    assert np.mean(a >= t[0]) == pytest.approx(0.05, abs=0.002)
    assert np.mean(b >= t[1]) == pytest.approx(0.05, abs=0.01)  # b has ties at 2 decimals
    assert thresholds_for(a, b, 0.3, top_rate=None) == (0.3, 0.3)
