"""The mixture SPRT under continuous monitoring: error rates by simulation, and its bookkeeping."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit
from scipy.stats import binomtest

from streams.performance import log_loss
from streams.sequential import MixtureSPRT, SequentialConfig, Verdict

ALPHA = 0.05
CONFIG = SequentialConfig(alpha=ALPHA, design_n=10_000, min_n=500)


def fraud_pairs(rng: np.random.Generator, n: int, champion_noise: float, challenger_noise: float) -> np.ndarray:
    """Per-event log-loss improvement of a challenger over a champion on fraud-like data (~2.5% positives).
    Each model sees the true logit plus its own noise: equal noise means equally good models."""
    truth = rng.normal(-4.5, 1.5, n)
    labels = (rng.random(n) < expit(truth)).astype(np.float64)
    champion = expit(truth + rng.normal(0, champion_noise, n))
    challenger = expit(truth + rng.normal(0, challenger_noise, n))
    return np.asarray(log_loss(champion, labels) - log_loss(challenger, labels))


def test_an_equally_good_challenger_is_promoted_at_most_at_rate_alpha_when_checked_after_every_pair() -> None:
    rng = np.random.default_rng(7)
    trials = 300
    promoted = 0
    for _ in range(trials):
        test = MixtureSPRT(CONFIG)
        promoted += test.update(fraud_pairs(rng, 10_000, 1.0, 1.0)).verdict is Verdict.BETTER
    assert binomtest(promoted, trials, ALPHA, alternative="greater").pvalue > 0.01, f"{promoted}/{trials}"


def test_a_better_challenger_is_promoted_and_a_worse_one_rejected() -> None:
    rng = np.random.default_rng(8)
    better = [MixtureSPRT(CONFIG).update(fraud_pairs(rng, 20_000, 1.0, 0.6)) for _ in range(40)]
    worse = [MixtureSPRT(CONFIG).update(fraud_pairs(rng, 20_000, 0.6, 1.0)) for _ in range(40)]
    assert sum(r.verdict is Verdict.BETTER for r in better) >= 38
    assert sum(r.verdict is Verdict.WORSE for r in worse) >= 38
    stops = [r.stopped_at for r in better if r.stopped_at is not None]
    assert np.median(stops) < 10_000
    decided = better[0]
    assert decided.lower > 0
    assert decided.p_value <= ALPHA
    assert decided.e_value >= 1 / ALPHA


def test_the_confidence_sequence_covers_the_true_mean_at_every_look_with_probability_1_minus_alpha() -> None:
    """Skewed data (an exponential): the sequence, checked after every observation, misses the true mean
    at some look in at most alpha of the runs. Shifting the data by its true mean turns a miss into a
    BETTER or WORSE verdict, so the real code path does the checking."""
    rng = np.random.default_rng(9)
    trials, missed = 300, 0
    for _ in range(trials):
        x = rng.exponential(1.0, 5_000)
        missed += MixtureSPRT(CONFIG).update(x - 1.0).verdict is not Verdict.CONTINUE
    assert binomtest(missed, trials, ALPHA, alternative="greater").pvalue > 0.01


def test_identical_models_never_win_and_a_margin_rejects_them_as_futile() -> None:
    zeros = np.zeros(5_000)
    assert MixtureSPRT(CONFIG).update(zeros).verdict is Verdict.CONTINUE
    futile = MixtureSPRT(SequentialConfig(alpha=ALPHA, min_n=500, margin=0.001)).update(zeros)
    assert futile.verdict is Verdict.FUTILE
    assert futile.stopped_at == 500
    budget = MixtureSPRT(SequentialConfig(alpha=ALPHA, min_n=500, max_n=800)).update(zeros)
    assert (budget.verdict, budget.n) == (Verdict.FUTILE, 800)


def test_no_verdict_before_the_burn_in() -> None:
    test = MixtureSPRT(SequentialConfig(alpha=ALPHA, min_n=1_000))
    result = test.update(np.full(999, 5.0) + np.random.default_rng(0).normal(size=999))
    assert result.verdict is Verdict.CONTINUE
    assert (result.lower, result.upper) == (-np.inf, np.inf)
    assert test.update(np.array([5.0])).verdict is Verdict.BETTER


@settings(max_examples=30, deadline=None)
@given(cuts=st.lists(st.integers(1, 2_999), max_size=6), seed=st.integers(0, 1_000), shift=st.floats(-0.2, 0.2))
def test_checking_in_batches_is_checking_after_every_observation(cuts: list[int], seed: int, shift: float) -> None:
    x = np.random.default_rng(seed).normal(shift, 1.0, 3_000)
    whole = MixtureSPRT(CONFIG).update(x)
    chunked = MixtureSPRT(CONFIG)
    for part in np.split(x, sorted(set(cuts))):
        chunked.update(part)
    result = chunked.result()
    assert (result.verdict, result.n, result.stopped_at) == (whole.verdict, whole.n, whole.stopped_at)
    assert result.mean == pytest.approx(whole.mean, abs=1e-12)
    assert result.p_value == pytest.approx(whole.p_value, rel=1e-9)
    assert result.std == pytest.approx(whole.std, rel=1e-9)


def test_a_resumed_test_continues_exactly() -> None:
    x = np.random.default_rng(3).normal(0.02, 1.0, 4_000)
    straight = MixtureSPRT(CONFIG)
    straight.update(x[:1_500])
    resumed = MixtureSPRT.resume(CONFIG, straight.state())
    assert resumed.update(x[1_500:]) == straight.update(x[1_500:])


def test_rho_makes_the_sequence_tightest_at_the_design_size() -> None:
    widths = {}
    for design in (1_000, 100_000):
        test = MixtureSPRT(SequentialConfig(design_n=design, min_n=2))
        n = np.array([1_000.0, 100_000.0])
        _, half = test._boundary(n, np.zeros(2), n - 1)  # unit variance
        widths[design] = half
    assert widths[1_000][0] < widths[100_000][0]
    assert widths[100_000][1] < widths[1_000][1]


def test_fraud_pairs_are_centred_when_models_are_equally_good() -> None:
    x = fraud_pairs(np.random.default_rng(0), 200_000, 1.0, 1.0)
    assert abs(x.mean()) < 3 * x.std() / np.sqrt(len(x))
