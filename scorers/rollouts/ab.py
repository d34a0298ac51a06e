"""The A/B decision from a rollout's incremental evidence: the SRM test, then the sequential winner test.

SRM (``srm.py``): entities per variant in the stage, tested with an always-valid multinomial test at
``srm_alpha``. An SRM means the assignment or the data path is broken (a salt that differs between
processes, a candidate path that loses entities), so no winner is declared while it stands.

Winner: the mixture SPRT of ``streams.sequential`` on per-event paired differences (champion log loss minus
candidate log loss on the same event; both predictions are precomputed), kept as one state for the whole
rollout and fed each event once its label horizon has closed, in event-time order (``evidence.py``). Its
confidence sequence is valid at every look, so the controller may evaluate every few seconds for as long as
it likes: the chance of ever declaring a wrong winner stays below ``ab_alpha``.
"""

from __future__ import annotations

from dataclasses import dataclass

from scorers.rollouts.evidence import Snapshot
from scorers.rollouts.srm import SrmResult
from streams.sequential import SequentialResult, Verdict


@dataclass(frozen=True)
class AbDecision:
    verdict: Verdict
    result: SequentialResult | None
    srm: SrmResult | None
    recommendation: str


def ab_decision(evidence: Snapshot, candidate_version: int) -> AbDecision:
    srm, result = evidence.srm, evidence.ab
    if srm is not None and srm.mismatch:
        message = f"sample ratio mismatch (entities {srm.observed}, p={srm.p_value:.2g}): fix the split first"
        return AbDecision(Verdict.CONTINUE, result, srm, message)
    if result is None or result.verdict is Verdict.CONTINUE:
        n = 0 if result is None else result.n
        message = f"keep collecting events past their label horizon ({n} so far)"
        return AbDecision(Verdict.CONTINUE, result, srm, message)
    summary = f"log loss change {-result.mean:+.5f}/event, CI [{result.lower:.5f}, {result.upper:.5f}], n={result.n}"
    advice = {
        Verdict.BETTER: f"promote v{candidate_version}",
        Verdict.WORSE: f"roll back v{candidate_version}",
        Verdict.FUTILE: "no difference worth acting on: abort",
    }[result.verdict]
    return AbDecision(result.verdict, result, srm, f"{advice} ({summary})")
