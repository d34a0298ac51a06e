"""The controller's decisions from a rollout's incremental evidence: guardrails, stage progression, the wait
for label evidence, A/B and SRM (no I/O)."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pytest

from scorers.rollouts.decide import Decision, decide
from scorers.rollouts.evidence import RolloutEvidence
from scorers.rollouts.spec import Guardrails, RolloutSpec, RolloutSpecError
from scorers.rollouts.split import TrafficSplit
from scorers.rollouts.status import RolloutStatus
from scorers.rollouts.store import Rollout
from shadow.results import JoinedColumns

rng = np.random.default_rng(3)
N = 2000
CHAMPION = rng.beta(1, 8, N)
LABELS = (rng.random(N) < CHAMPION).astype(np.int64)
ENTITIES = [f"card-{i:06d}" for i in range(N)]
TIMES = np.arange(N, dtype=np.int64) * 10  # 20 s of event time
HORIZON_S = 60.0


def rollout(stage: int = 0, started_ms: int = 0, **spec: Any) -> Rollout:
    config = RolloutSpec(**{"min_duration_s": 10.0, "min_samples": 500, "label_horizon_s": HORIZON_S,
                            "label_lateness_s": 0.0, **spec})  # fmt: skip
    return Rollout("fraud", uuid.uuid1(), 2, 1, RolloutStatus.RUNNING, stage, started_ms, config)


def rows(candidate: np.ndarray, latency: float = 50.0, keep: np.ndarray | None = None) -> JoinedColumns:
    columns = JoinedColumns(2, [f"e{i}" for i in range(N)], ENTITIES, TIMES, np.ones(N, dtype=np.int64), CHAMPION,
                            candidate, np.full(N, 10.0), np.full(N, latency))  # fmt: skip
    return columns if keep is None else columns.select(keep)


def evaluate(
    r: Rollout, candidate: np.ndarray, now_ms: int, labels: bool = False, errors: int = 0, **kwargs: Any
) -> Decision:
    evidence = RolloutEvidence(r.spec, r.baseline, r.candidate, r.salt)
    evidence.on_stage(r.stage, r.stage_started_ms)
    evidence.results(rows(candidate, **kwargs))
    if labels:  # every label 1 s after its event; then the labels' clock passes every horizon
        evidence.labels([0] * N, [f"e{i}" for i in range(N)], LABELS.tolist(), (TIMES + 1_000).tolist())
        evidence.labels([0], ["clock"], [0], [10**9])
    evidence.close()
    evidence.guardrails.errors(errors, 0, N)
    return decide(r, evidence.snapshot(), 1, now_ms)


def test_a_good_candidate_advances_once_the_stage_is_old_and_big_enough() -> None:
    good = np.clip(CHAMPION + rng.normal(0, 0.01, N), 0, 1)
    assert evaluate(rollout(), good, now_ms=5_000).action == "hold"
    advanced = evaluate(rollout(), good, now_ms=10_000)
    assert advanced.action == "advance"
    assert advanced.assignments["candidate"] + advanced.assignments["champion"] == N  # entities, each once
    assert 0 < advanced.assignments["candidate"] < 0.05 * N  # the 1% stage


def test_a_canary_reaches_its_last_stage_only_with_label_evidence_or_an_explicit_waiver() -> None:
    good = CHAMPION.copy()  # retrained to the same predictions
    waiting = evaluate(rollout(stage=3), good, now_ms=10_000)  # 50%: the next stage is the last
    assert waiting.action == "hold"
    assert "waiting for label evidence" in waiting.reason
    assert evaluate(rollout(stage=4), good, now_ms=10_000).action == "hold"
    assert evaluate(rollout(stage=3), good, now_ms=10_000, labels=True).action == "advance"
    assert evaluate(rollout(stage=4), good, now_ms=10_000, labels=True).action == "promote"
    assert evaluate(rollout(stage=4, without_labels=True), good, now_ms=10_000).action == "promote"


@pytest.mark.parametrize(
    ("candidate", "kwargs", "breached"),
    [
        (1 - CHAMPION, {}, "score_ks"),  # inverted scores
        (np.full(N, 0.5), {}, "score_ks"),  # a constant
        (CHAMPION, {"latency": 5_000.0}, "latency_p99_ms"),
        (CHAMPION, {"errors": 200}, "error_rate"),
    ],
)
def test_a_broken_guardrail_rolls_back_at_once(candidate: np.ndarray, kwargs: dict[str, Any], breached: str) -> None:
    decision = evaluate(rollout(), candidate, now_ms=1, **kwargs)
    assert decision.action == "rollback"
    assert breached in decision.reason
    checks = {c["name"]: c["ok"] for c in decision.evidence["guardrails"]["checks"]}
    assert checks[breached] is False


def test_worse_labelled_loss_rolls_back_even_when_scores_look_alike() -> None:
    # Same distribution, shuffled against the events: no KS shift, but useless predictions.
    shuffled = rng.permutation(CHAMPION)
    assert evaluate(rollout(), shuffled, now_ms=1).action == "hold"  # no label evidence yet: nothing to see
    decision = evaluate(rollout(), shuffled, now_ms=1, labels=True)
    assert decision.action == "rollback"
    assert "label_log_loss" in decision.reason


def test_too_few_events_are_not_judged() -> None:
    few = np.zeros(N, dtype=bool)
    few[:100] = True
    evidence = RolloutEvidence(rollout().spec, 1, 2, "")
    evidence.results(rows(1 - CHAMPION, keep=few))
    assert decide(rollout(), evidence.snapshot(), 1, now_ms=10**9).action == "hold"


def test_a_changed_champion_aborts() -> None:
    evidence = RolloutEvidence(rollout().spec, 1, 2, "")
    assert decide(rollout(), evidence.snapshot(), 7, now_ms=1).action == "abort"


def test_ab_promotes_a_better_candidate_only_when_asked() -> None:
    better = np.clip(0.7 * LABELS + 0.15, 0, 1).astype(np.float64)  # far better log loss than the champion
    # the score-shift guardrail would stop a candidate this different; this test is about the loss test
    spec: dict[str, Any] = {"strategy": "ab", "stages": (50.0,), "ab_min_n": 200, "guardrails": Guardrails(max_ks=1)}
    recommend = evaluate(rollout(**spec), better, now_ms=1, labels=True)
    assert recommend.action != "promote"
    assert recommend.recommendation.startswith("promote v2")
    auto = evaluate(rollout(**spec, auto_promote=True), better, now_ms=1, labels=True)
    assert auto.action == "promote"
    assert auto.evidence["ab"]["sequential"]["lower"] > 0


def test_srm_flags_a_data_path_that_loses_entities_of_one_variant() -> None:
    spec: dict[str, Any] = {"strategy": "ab", "stages": (50.0,)}
    served = np.array([TrafficSplit(0.5).serves_candidate(e) for e in ENTITIES])
    fine = evaluate(rollout(**spec), CHAMPION, now_ms=1)
    assert fine.evidence["ab"]["srm"]["p_value"] > 0.001
    lossy = served | (rng.random(N) < 0.6)  # 40% of the champion's entities never arrive
    broken = evaluate(rollout(**spec), CHAMPION, now_ms=1, keep=lossy)
    assert broken.evidence["ab"]["srm"]["p_value"] <= 0.001
    assert broken.recommendation.startswith("sample ratio mismatch")


def test_specs_that_cannot_work_are_refused() -> None:
    for bad in (
        {"stages": (5.0, 1.0, 100.0)},
        {"stages": (1.0, 50.0)},
        {"stages": (1.0, 100.0), "shadow_fraction": 0.5},
        {"label_horizon_s": 0.0},
        {"guardrails": Guardrails(alpha=0.0)},
    ):
        with pytest.raises(RolloutSpecError):
            RolloutSpec(**bad)
    spec = RolloutSpec(stages=(1.0, 100.0), min_duration_s=3, without_labels=True)
    assert RolloutSpec.from_json(spec.to_json()) == spec
