"""The controller's decision for one evaluation, as a pure function of the rollout and its evidence.

hold      nothing to do yet (stage too young or too small, guardrails not judgeable yet, or a last stage
          waiting for label evidence)
advance   the stage held for its minimum duration and sample count with every guardrail green
promote   a canary's last stage held, or an A/B winner with auto-promote
rollback  a guardrail broke (or an A/B loser with auto-promote): the candidate stops being served
abort     the champion changed outside the rollout: the comparison no longer means anything

Scores, errors and latencies judge in minutes; whether the candidate predicts better needs labels, which
take up to the label horizon. So a canary neither enters its last stage nor promotes before the label check
has ``label_min_n`` events, unless the rollout was started ``without_labels`` (an explicit waiver).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scorers.rollouts.ab import ab_decision
from scorers.rollouts.evidence import Snapshot
from scorers.rollouts.store import Rollout
from streams.sequential import Verdict


@dataclass(frozen=True)
class Decision:
    action: str
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)
    assignments: dict[str, int] = field(default_factory=dict)
    recommendation: str = ""


def decide(rollout: Rollout, evidence: Snapshot, champion: int | None, now_ms: int) -> Decision:
    r, spec = rollout, rollout.spec
    if champion != r.baseline:
        return Decision("abort", f"the champion changed to v{champion} outside the rollout (was v{r.baseline})")
    report = evidence.guardrails
    counts = evidence.assignments
    elapsed_s = (now_ms - r.stage_started_ms) / 1000
    label = evidence.label
    record: dict[str, Any] = {
        "stage_percent": spec.stages[r.stage],
        "events": evidence.events,
        "elapsed_s": round(elapsed_s, 3),
        "guardrails": report.to_json(),
        "labels": {"closed": evidence.closed, "labelled": evidence.labelled, "n": label.n, "mean": label.mean,
                   "p_value": label.p_value, "verdict": label.verdict.value},
    }  # fmt: skip
    if report.breached:
        return Decision("rollback", f"guardrail breached at {spec.stages[r.stage]:g}%: {report.reason()}",
                        record, counts)  # fmt: skip
    recommendation = ""
    if spec.strategy == "ab":
        ab = ab_decision(evidence, r.candidate)
        recommendation = ab.recommendation
        record["ab"] = {
            "srm": None if ab.srm is None else {"e_value": ab.srm.e_value, "p_value": ab.srm.p_value,
                                                "observed": ab.srm.observed, "expected_share": ab.srm.expected_share},
            "sequential": None if ab.result is None else {"n": ab.result.n, "mean": ab.result.mean,
                                                          "lower": ab.result.lower, "upper": ab.result.upper,
                                                          "p_value": ab.result.p_value},
            "verdict": ab.verdict.value,
        }  # fmt: skip
        if spec.auto_promote and ab.verdict is Verdict.BETTER:
            return Decision("promote", f"A/B winner: {recommendation}", record, counts, recommendation)
        if spec.auto_promote and ab.verdict is Verdict.WORSE:
            return Decision("rollback", f"A/B loser: {recommendation}", record, counts, recommendation)
    ready = report.judged and elapsed_s >= spec.min_duration_s and evidence.events >= spec.min_samples
    if not ready:
        wait = f"stage {spec.stages[r.stage]:g}%: {evidence.events}/{spec.min_samples} events, "
        wait += f"{elapsed_s:.0f}/{spec.min_duration_s:.0f} s"
        return Decision("hold", wait, record, counts, recommendation)
    entering_last = r.stage + 1 == len(spec.stages) - 1
    if spec.strategy == "canary" and (entering_last or r.last_stage) and not spec.without_labels:
        needed = spec.guardrails.label_min_n
        if label.n < needed:
            wait = f"stage {spec.stages[r.stage]:g}% held; waiting for label evidence ({label.n}/{needed} events "
            wait += f"past their {spec.label_horizon_s / 3600:g} h label horizon) before "
            wait += "promoting" if r.last_stage else f"{spec.stages[-1]:g}%"
            return Decision("hold", wait, record, counts, recommendation)
    if not r.last_stage:
        return Decision("advance", f"stage {spec.stages[r.stage]:g}% held with guardrails green", record, counts,
                        recommendation)  # fmt: skip
    if spec.strategy == "canary":
        return Decision("promote", "every stage held with guardrails green", record, counts, recommendation)
    return Decision("hold", "A/B at its last stage: waiting for the sequential test", record, counts, recommendation)
