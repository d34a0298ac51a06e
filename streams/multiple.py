"""Holm-Bonferroni: which of a window's column tests reject, with the family-wise error rate held at alpha.

Holm is valid under any dependence between the tests (features are correlated), uniformly more powerful than
Bonferroni, and needs nothing but the p-values. scipy offers only false-discovery-rate control, which would
not make a window's alarm an alpha-level event, so the step-down is written out here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def holm(p_values: Sequence[float], alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """(rejected, adjusted p-values), both in input order.

    Sorted ascending, p_(i) is compared with alpha / (m - i); testing stops at the first that is not below,
    and every smaller p-value is rejected. Adjusted p-values are the running maximum of (m - i) * p_(i), capped
    at 1, so ``adjusted <= alpha`` is the same decision.
    """
    p = np.asarray(p_values, dtype=np.float64)
    m = len(p)
    if m == 0:
        return np.zeros(0, dtype=bool), np.zeros(0)
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted_sorted = np.maximum.accumulate(scaled)
    adjusted = np.empty(m)
    adjusted[order] = adjusted_sorted
    return adjusted <= alpha, adjusted
