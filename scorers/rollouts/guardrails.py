"""Guardrails of a rollout stage, as pure functions of what was observed: which ones hold, which one broke.

Every check compares the candidate with the champion on the SAME events (the shadow joined results), so a
change in traffic moves both sides alike and is not mistaken for a bad model:
- error rate: dead letters of the candidate's scoring path per event, minus the champion's;
- latency: p99 of the candidate's produce-to-scored latency;
- score shift: PSI on the champion's decile bins and the two-sample KS statistic (scipy) — an effect size,
  not a p-value, because with thousands of events any tiny difference is "significant";
- labels (when some are in): the mixture SPRT of ``streams.sequential`` on per-event paired log-loss
  differences; it is valid under continuous monitoring, so looking at every evaluation adds no false alarms
  beyond ``label_alpha``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from scorers.rollouts.spec import Guardrails
from streams.drift_stats import psi
from streams.performance import log_loss
from streams.sequential import MixtureSPRT, SequentialConfig, SequentialResult, Verdict


@dataclass(frozen=True)
class Observations:
    """One stage's window: candidate and champion on the same events, plus both paths' dead letters."""

    champion_scores: np.ndarray
    candidate_scores: np.ndarray
    candidate_latency_ms: np.ndarray  # NaN where unknown
    labels: np.ndarray = field(default_factory=lambda: np.empty(0))  # aligned: 0/1, or -1 when not in yet
    candidate_errors: int = 0
    champion_errors: int = 0
    champion_events: int = 0  # events the champion's path handled in the window (scored + dead letters)

    @property
    def events(self) -> int:
        return len(self.candidate_scores)


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


def evaluate(obs: Observations, rails: Guardrails) -> GuardrailReport:
    if obs.events < rails.min_events:
        return GuardrailReport((), judged=False)
    checks = [error_rate(obs, rails), latency(obs, rails), *score_shift(obs, rails)]
    label = label_loss(obs, rails)
    if label is not None:
        checks.append(label)
    return GuardrailReport(tuple(checks), judged=True)


def error_rate(obs: Observations, rails: Guardrails) -> Check:
    candidate = obs.candidate_errors / max(1, obs.events + obs.candidate_errors)
    champion = obs.champion_errors / max(1, obs.champion_events) if obs.champion_events else 0.0
    increase = candidate - champion
    ok = increase <= rails.max_error_rate_increase
    return Check("error_rate", increase, rails.max_error_rate_increase, ok,
                 f"candidate {candidate:.2%} vs champion {champion:.2%}")  # fmt: skip


def latency(obs: Observations, rails: Guardrails) -> Check:
    known = obs.candidate_latency_ms[np.isfinite(obs.candidate_latency_ms)]
    p99 = float(np.percentile(known, 99)) if len(known) else math.nan
    ok = not (p99 > rails.max_latency_p99_ms)  # unknown latency (no produced_at) judges nothing
    return Check("latency_p99_ms", None if math.isnan(p99) else p99, rails.max_latency_p99_ms, ok,
                 f"p99 {p99:.0f} ms (limit {rails.max_latency_p99_ms:.0f} ms)")  # fmt: skip


def score_shift(obs: Observations, rails: Guardrails) -> list[Check]:
    champion, candidate = obs.champion_scores, obs.candidate_scores
    edges = np.unique(np.quantile(champion, np.linspace(0, 1, 11)[1:-1]))
    bins = np.concatenate(([-np.inf], edges, [np.inf]))
    index = psi(np.histogram(champion, bins)[0].astype(np.float64), np.histogram(candidate, bins)[0].astype(float))
    ks = stats.ks_2samp(candidate, champion)
    d = float(ks.statistic)
    return [
        Check("score_psi", index, rails.max_psi, index <= rails.max_psi, f"PSI {index:.3f} (limit {rails.max_psi})"),
        Check("score_ks", d, rails.max_ks, d <= rails.max_ks, f"KS D {d:.3f} (limit {rails.max_ks})"),
    ]


def label_loss(obs: Observations, rails: Guardrails) -> Check | None:
    """None until enough labelled events; fails when the candidate's log loss is significantly worse."""
    if len(obs.labels) == 0:
        return None
    known = obs.labels >= 0
    if int(known.sum()) < rails.label_min_n:
        return None
    result = paired_loss_test(obs.champion_scores[known], obs.candidate_scores[known], obs.labels[known],
                              SequentialConfig(alpha=rails.label_alpha, design_n=max(rails.label_min_n * 5, 1000),
                                               min_n=rails.label_min_n))  # fmt: skip
    ok = result.verdict is not Verdict.WORSE
    return Check("label_log_loss", result.mean, 0.0, ok,
                 f"log loss change {-result.mean:+.4f} per event, n={result.n}, p={result.p_value:.2g}")  # fmt: skip


def paired_loss_test(
    champion: np.ndarray, candidate: np.ndarray, labels: np.ndarray, config: SequentialConfig
) -> SequentialResult:
    """mSPRT on champion loss minus candidate loss, event by event (positive: the candidate does better)."""
    differences = log_loss(champion, labels) - log_loss(candidate, labels)
    return MixtureSPRT(config).update(differences)
