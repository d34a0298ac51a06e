"""Guardrails of a rollout stage as sequential tests with stated error rates: which hold, which one broke.

Every check compares the candidate with the champion on the SAME events (the shadow joined results), so a
change in traffic moves both sides alike. The state is incremental, one per stage: score histograms,
latency and event counts, appended as rows arrive.

Judgement happens at looks, when the stage's events first reach ``min_events`` x 2^k (k = 0, 1, ...; a
look skipped because several passed between two evaluations is simply not used). Look k spends
alpha_k = alpha_stage x 6 / (pi^2 (k + 1)^2), a third per check; the alpha_k sum to alpha_stage, so the
chance that a candidate which meets every limit is ever rolled back by these checks, however long the stage
runs and however often it is evaluated, is at most alpha_stage (= ``Guardrails.alpha`` / number of stages).
At each look, on confidence bounds (scipy):
- error rate: Clopper-Pearson lower bound of the candidate's dead-letter rate minus the upper bound of the
  champion's, against ``max_error_rate_increase``;
- latency: Clopper-Pearson lower bound of P(latency > ``max_latency_p99_ms``) against 1% (the p99 limit);
- score shift: the two-sample KS distance D, minus twice the DKW bound sqrt(log(4 / a) / (2 n)), against
  ``max_ks``: the true distance exceeds the limit with probability >= 1 - a. D is taken on 4,096 bins of the
  score's log-odds, which can only make it smaller (a conservative test).
The label check is ``streams.sequential``'s mSPRT on the rollout's events whose label horizon has closed
(``evidence.py``), kept across stages; WORSE breaks it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.special import logit

from scorers.rollouts.spec import Guardrails
from streams.sequential import SequentialResult, Verdict

_EDGES = np.linspace(-21.0, 21.0, 4097)  # log-odds bins: scores in [1e-9, 1 - 1e-9]
CHECKS = 3


@dataclass(frozen=True)
class Check:
    name: str
    value: float | None
    threshold: float
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class GuardrailReport:
    checks: tuple[Check, ...]
    judged: bool  # False: too few events to judge anything yet

    @property
    def breached(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.ok)

    def reason(self) -> str:
        return "; ".join(f"{c.name} {c.detail}" for c in self.breached)

    def to_json(self) -> dict[str, object]:
        return {
            "judged": self.judged,
            "checks": [
                {"name": c.name, "value": c.value, "threshold": c.threshold, "ok": c.ok, "detail": c.detail}
                for c in self.checks
            ],
        }


def look_alpha(alpha: float, k: int) -> float:
    """What look k spends: alpha x 6 / (pi^2 (k + 1)^2), summing to alpha over k = 0, 1, ..."""
    return alpha * 6.0 / (math.pi**2 * (k + 1) ** 2)


class StageGuardrails:
    """The error, latency and score-shift checks of one stage, fed incrementally."""

    def __init__(self, rails: Guardrails, alpha: float) -> None:
        self.rails = rails
        self.alpha = alpha  # this stage's share of rails.alpha
        self.events = 0
        self._hist = np.zeros((2, len(_EDGES) - 1), dtype=np.int64)  # champion, candidate
        self.latency_known = 0
        self.latency_over = 0
        self.candidate_errors = 0
        self.champion_errors = 0
        self.champion_events = 0
        self._looked = -1  # index of the last look used
        self._checks: tuple[Check, ...] = ()

    def add(self, champion_scores: np.ndarray, candidate_scores: np.ndarray, candidate_latency_ms: np.ndarray) -> None:
        self.events += len(candidate_scores)
        for row, scores in enumerate((champion_scores, candidate_scores)):
            x = logit(np.clip(np.asarray(scores, dtype=np.float64), 1e-9, 1 - 1e-9))
            self._hist[row] += np.histogram(x, _EDGES)[0]
        known = np.asarray(candidate_latency_ms, dtype=np.float64)
        known = known[np.isfinite(known)]
        self.latency_known += len(known)
        self.latency_over += int((known > self.rails.max_latency_p99_ms).sum())

    def errors(self, candidate_errors: int, champion_errors: int, champion_events: int) -> None:
        """The stage's totals so far (dead letters of each path; events the champion's path handled)."""
        self.candidate_errors, self.champion_errors, self.champion_events = (
            candidate_errors,
            champion_errors,
            champion_events,
        )

    def report(self, label: SequentialResult | None = None, label_min_n: int = 0) -> GuardrailReport:
        """The checks at the newest look reached (judged once per look), plus the label check when it has data."""
        first = self.rails.min_events
        if self.events >= first:
            k = math.floor(math.log2(self.events / first))
            if k > self._looked:
                self._looked = k
                a = look_alpha(self.alpha, k) / CHECKS
                self._checks = (self._error_rate(a), self._latency(a), self._score_shift(a))
        checks = self._checks
        if label is not None and label.n >= label_min_n:  # the rollout's, whatever this stage has seen
            checks = (*checks, label_check(label))
        return GuardrailReport(checks, judged=self._looked >= 0)

    def _error_rate(self, a: float) -> Check:
        limit = self.rails.max_error_rate_increase
        n, c = self.events + self.candidate_errors, self.candidate_errors
        if self.champion_events < self.rails.min_events:
            return Check("error_rate", None, limit, True, "too few champion events to compare")
        m, e = self.champion_events, self.champion_errors
        low = stats.binomtest(c, n).proportion_ci(1 - a, method="exact").low
        high = stats.binomtest(e, m).proportion_ci(1 - a, method="exact").high
        increase = low - high
        detail = f"candidate {c / n:.2%} vs champion {e / m:.2%} (increase >= {increase:.2%} at 1-{a:.1g})"
        return Check("error_rate", increase, limit, increase <= limit, detail)

    def _latency(self, a: float) -> Check:
        limit = self.rails.max_latency_p99_ms
        n, over = self.latency_known, self.latency_over
        if n < self.rails.min_events:  # unknown latency (no produced_at) judges nothing
            return Check("latency_p99_ms", None, limit, True, "too few known latencies")
        low = float(stats.beta.ppf(a, over, n - over + 1)) if over else 0.0  # one-sided Clopper-Pearson
        return Check("latency_p99_ms", over / n, limit, low <= 0.01,
                     f"{over / n:.2%} over {limit:.0f} ms (>= {low:.2%} at 1-{a:.1g}; limit 1%)")  # fmt: skip

    def _score_shift(self, a: float) -> Check:
        cdf = np.cumsum(self._hist, axis=1) / max(self.events, 1)
        d = float(np.max(np.abs(cdf[0] - cdf[1])))
        bound = d - 2.0 * math.sqrt(math.log(4.0 / a) / (2.0 * self.events))
        limit = self.rails.max_ks
        return Check("score_ks", d, limit, bound <= limit,
                     f"KS D {d:.3f} (>= {max(bound, 0.0):.3f} at 1-{a:.1g}; limit {limit})")  # fmt: skip


def label_check(result: SequentialResult) -> Check:
    """Fails when the candidate's log loss is significantly worse than the champion's (positive: better)."""
    ok = result.verdict is not Verdict.WORSE
    return Check("label_log_loss", result.mean, 0.0, ok,
                 f"log loss change {-result.mean:+.4f} per event, n={result.n}, p={result.p_value:.2g}")  # fmt: skip
