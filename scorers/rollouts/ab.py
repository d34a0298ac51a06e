"""A/B statistics: the sample-ratio-mismatch check and the sequential winner test.

SRM: the events of each variant (entities assigned by the split, among the joined events) are tested against
the split's weights with scipy's chi-square goodness of fit. alpha = 0.001, the usual SRM level: an SRM means
the assignment or the data path is broken (a salt that differs between processes, a candidate path that
loses events), so no winner is declared while it stands, and a false alarm costs only a look.

Winner: the mixture SPRT of ``streams.sequential`` on per-event paired differences (champion log loss minus
candidate log loss on the same labelled event; both predictions are precomputed). Its confidence sequence is
valid at every look, so the controller may evaluate every few seconds for as long as it likes: the chance of
ever declaring a wrong winner stays below ``ab_alpha``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from scorers.rollouts.guardrails import paired_loss_test
from scorers.rollouts.spec import RolloutSpec
from scorers.rollouts.split import CANDIDATE, CHAMPION
from streams.sequential import SequentialConfig, SequentialResult, Verdict


@dataclass(frozen=True)
class SrmResult:
    observed: dict[str, int]
    expected_share: float  # of the candidate
    statistic: float
    p_value: float
    alpha: float

    @property
    def mismatch(self) -> bool:
        return self.p_value < self.alpha


def srm_check(counts: dict[str, int], candidate_share: float, alpha: float) -> SrmResult | None:
    """None when there is nothing to test (no events, or a share of 0 or 1 leaves one side empty by design)."""
    total = counts.get(CANDIDATE, 0) + counts.get(CHAMPION, 0)
    if total == 0 or not 0 < candidate_share < 1:
        return None
    observed = np.array([counts.get(CANDIDATE, 0), counts.get(CHAMPION, 0)], dtype=np.float64)
    expected = np.array([candidate_share, 1 - candidate_share]) * total
    statistic, p_value = stats.chisquare(observed, expected)
    return SrmResult(dict(counts), candidate_share, float(statistic), float(p_value), alpha)


@dataclass(frozen=True)
class AbDecision:
    verdict: Verdict
    result: SequentialResult | None
    srm: SrmResult | None
    recommendation: str


def ab_decision(
    spec: RolloutSpec,
    candidate_share: float,
    counts: dict[str, int],
    champion: np.ndarray,
    candidate: np.ndarray,
    labels: np.ndarray,
    candidate_version: int,
) -> AbDecision:
    srm = srm_check(counts, candidate_share, spec.srm_alpha)
    known = labels >= 0 if len(labels) else np.zeros(len(candidate), dtype=bool)
    config = SequentialConfig(alpha=spec.ab_alpha, design_n=max(spec.ab_min_n * 10, 1000), min_n=spec.ab_min_n)
    result = paired_loss_test(champion[known], candidate[known], labels[known], config) if known.any() else None
    if srm is not None and srm.mismatch:
        message = f"sample ratio mismatch (chi2={srm.statistic:.1f}, p={srm.p_value:.2g}): fix the split first"
        return AbDecision(Verdict.CONTINUE, result, srm, message)
    if result is None or result.verdict is Verdict.CONTINUE:
        n = 0 if result is None else result.n
        return AbDecision(Verdict.CONTINUE, result, srm, f"keep collecting labelled events ({n} so far)")
    summary = f"log loss change {-result.mean:+.5f}/event, CI [{result.lower:.5f}, {result.upper:.5f}], n={result.n}"
    advice = {
        Verdict.BETTER: f"promote v{candidate_version}",
        Verdict.WORSE: f"roll back v{candidate_version}",
        Verdict.FUTILE: "no difference worth acting on: abort",
    }[result.verdict]
    return AbDecision(result.verdict, result, srm, f"{advice} ({summary})")
