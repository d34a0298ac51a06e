"""The controller's decision for one evaluation, as a pure function of the rollout and what was observed.

hold      nothing to do yet (stage too young or too small, or guardrails not judgeable yet)
advance   the stage held for its minimum duration and sample count with every guardrail green
promote   a canary's 100% stage held, or an A/B winner with auto-promote
rollback  a guardrail broke (or an A/B loser with auto-promote): the candidate stops being served
abort     the champion changed outside the rollout: the comparison no longer means anything
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scorers.rollouts.ab import ab_decision
from scorers.rollouts.guardrails import evaluate
from scorers.rollouts.observe import Window
from scorers.rollouts.split import TrafficSplit
from scorers.rollouts.store import Rollout
from streams.sequential import Verdict


@dataclass(frozen=True)
class Decision:
    action: str
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)
    assignments: dict[str, int] = field(default_factory=dict)
    recommendation: str = ""


def decide(
    rollout: Rollout, stage: Window, champion: int | None, now_ms: int, since_start: Window | None = None
) -> Decision:
    """``stage``: the current stage's window; ``since_start``: the whole rollout's (A/B's sequential test)."""
    r, spec = rollout, rollout.spec
    if champion != r.baseline:
        return Decision("abort", f"the champion changed to v{champion} outside the rollout (was v{r.baseline})")
    obs = stage.observations
    report = evaluate(obs, spec.guardrails)
    counts = TrafficSplit(r.fraction, r.salt).counts(stage.entity_ids)
    elapsed_s = (now_ms - r.stage_started_ms) / 1000
    evidence: dict[str, Any] = {
        "stage_percent": spec.stages[r.stage],
        "events": obs.events,
        "elapsed_s": round(elapsed_s, 3),
        "window": [stage.since_ms, stage.until_ms],
        "guardrails": report.to_json(),
    }
    if report.breached:
        return Decision("rollback", f"guardrail breached at {spec.stages[r.stage]:g}%: {report.reason()}",
                        evidence, counts)  # fmt: skip
    recommendation = ""
    if spec.strategy == "ab":
        whole = since_start or stage
        share = r.fraction / spec.shadow_fraction
        whole_counts = TrafficSplit(r.fraction, r.salt).counts(whole.entity_ids)
        o = whole.observations
        ab = ab_decision(spec, share, counts, o.champion_scores, o.candidate_scores, o.labels, r.candidate)
        recommendation = ab.recommendation
        evidence["ab"] = {
            "srm": None if ab.srm is None else {"statistic": ab.srm.statistic, "p_value": ab.srm.p_value,
                                                "observed": ab.srm.observed, "expected_share": share},
            "sequential": None if ab.result is None else {"n": ab.result.n, "mean": ab.result.mean,
                                                          "lower": ab.result.lower, "upper": ab.result.upper,
                                                          "p_value": ab.result.p_value},
            "verdict": ab.verdict.value,
            "assigned_since_start": whole_counts,
        }  # fmt: skip
        if spec.auto_promote and ab.verdict is Verdict.BETTER:
            return Decision("promote", f"A/B winner: {recommendation}", evidence, counts, recommendation)
        if spec.auto_promote and ab.verdict is Verdict.WORSE:
            return Decision("rollback", f"A/B loser: {recommendation}", evidence, counts, recommendation)
    ready = report.judged and elapsed_s >= spec.min_duration_s and obs.events >= spec.min_samples
    if not ready:
        wait = f"stage {spec.stages[r.stage]:g}%: {obs.events}/{spec.min_samples} events, "
        wait += f"{elapsed_s:.0f}/{spec.min_duration_s:.0f} s"
        return Decision("hold", wait, evidence, counts, recommendation)
    if not r.last_stage:
        return Decision("advance", f"stage {spec.stages[r.stage]:g}% held with guardrails green", evidence, counts,
                        recommendation)  # fmt: skip
    if spec.strategy == "canary":
        return Decision("promote", "every stage held with guardrails green", evidence, counts, recommendation)
    return Decision("hold", "A/B at its last stage: waiting for the sequential test", evidence, counts, recommendation)
