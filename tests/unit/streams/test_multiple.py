"""Holm-Bonferroni against its definition, and its family-wise error under the null."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import binomtest, norm

from streams.multiple import holm


def test_holm_steps_down_and_stops_at_the_first_acceptance() -> None:
    # sorted: 0.001 <= 0.05/4, 0.012 <= 0.05/3, 0.03 > 0.05/2 -> stop; 0.04 is not rejected either
    rejected, adjusted = holm([0.04, 0.001, 0.03, 0.012], 0.05)
    assert rejected.tolist() == [False, True, False, True]
    assert np.allclose(adjusted, [0.06, 0.004, 0.06, 0.036])


@given(st.lists(st.floats(0, 1), min_size=1, max_size=30), st.floats(0.001, 0.2))
def test_holm_rejects_at_least_what_bonferroni_rejects_and_adjusted_p_decides(p: list[float], alpha: float) -> None:
    rejected, adjusted = holm(p, alpha)
    bonferroni = np.asarray(p) <= alpha / len(p)
    assert (rejected | ~bonferroni).all()
    assert (rejected == (adjusted <= alpha)).all()
    assert ((adjusted >= np.asarray(p)) & (adjusted <= 1)).all()


def test_family_wise_error_is_at_most_alpha_under_correlated_nulls() -> None:
    rng = np.random.default_rng(1)
    trials, alpha = 4_000, 0.05
    # 16 tests sharing a common factor (correlated), all null: p-values uniform marginally.
    z = 0.7 * rng.normal(size=(trials, 1)) + np.sqrt(1 - 0.49) * rng.normal(size=(trials, 16))
    p = 2 * norm.sf(np.abs(z))
    alarms = sum(bool(holm(row, alpha)[0].any()) for row in p)
    assert binomtest(alarms, trials, alpha, alternative="greater").pvalue > 0.01
