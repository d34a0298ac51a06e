"""The figures of docs/statistics.md's promotion, A/B, SRM and guardrail sections, from the same simulations
as the tests (seeded; the tests assert the bounds, this prints the counts). Run: python -m tests.decision_figures
(a few minutes on one core)."""

from __future__ import annotations

import numpy as np
from scipy.special import expit, logit

from scorers.rollouts.split import TrafficSplit
from scorers.rollouts.srm import EntitySrm
from streams.promotion import PromotionPolicy
from streams.sequential import SequentialConfig, Verdict
from tests.unit.rollouts.test_ab_simulation import ab_verdicts, wrong_winners
from tests.unit.rollouts.test_guardrail_simulation import TICK_MS, every, run_canary, stream
from tests.unit.rollouts.test_srm import card_stream, false_alarms
from tests.unit.streams.delayed import Delayed, delayed_stream
from tests.unit.streams.test_promotion import delayed_promotions


def promotion() -> None:
    policy = PromotionPolicy(SequentialConfig(alpha=0.05, design_n=3_000, min_n=200), report_every=10**9)
    runs, promoted, rejected = 150, 0, 0
    for seed in range(runs):
        reports, _ = delayed_promotions(seed, 3_000, policy)
        promoted += any(r.decision == "PROMOTE" for r in reports)
        rejected += any(r.decision == "REJECT" for r in reports)
    print(f"promotion, equal expected log loss, other calibration, real delays: promoted {promoted}/{runs}, "
          f"rejected {rejected}/{runs}")  # fmt: skip


def ab() -> None:
    print(f"A/B, equal loss, other calibration (3,000 events, hourly looks, 7 days): wrong winners "
          f"{wrong_winners(50, 3_000, equal_models=False)}/50")  # fmt: skip
    print(f"A/B, equal models (10,000 events, hourly looks, 7 days): wrong winners "
          f"{wrong_winners(40, 10_000, equal_models=True)}/40")  # fmt: skip
    s = delayed_stream(1, 20_000)
    better = Delayed(s.event_ids, s.entity_ids, s.event_times, s.labels, s.label_times, s.champion,
                     expit(logit(np.clip(s.champion, 1e-12, 1 - 1e-12)) + 1.0))  # fmt: skip
    verdicts = ab_verdicts(better, days=4)
    print(f"A/B, calibrated candidate vs under-predicting champion (20,000 events): winner at hour "
          f"{verdicts.index(Verdict.BETTER) + 1}")  # fmt: skip


def srm() -> None:
    for alpha, runs in ((0.05, 100), (0.001, 100)):
        raised = false_alarms(alpha, runs, (10_000, 100_000))
        print(f"SRM, correct 50/50 split, 5,000 cards, a look every 500 events, alpha {alpha}: "
              f"{raised[10_000]}/{runs} by 10k events, {raised[100_000]}/{runs} by 100k")  # fmt: skip
    entities = card_stream()
    rng = np.random.default_rng(0)
    for share in (0.05, 0.1, 0.2):
        found = 0
        for run in range(50):
            split = TrafficSplit(0.5, f"salt-{run}")
            lost = {e for e in set(entities) if not split.serves_candidate(e) and rng.random() < share}
            test = EntitySrm(split, 1.0, 0.001)
            test.add([e for e in entities if e not in lost])
            result = test.result()
            found += result is not None and result.mismatch
        print(f"SRM power, a path losing {share:.0%} of the champion's entities, 100k events: {found}/50")


def guardrails() -> None:
    for rate, runs in ((1.0, 100), (20.0, 40), (200.0, 5)):
        rolled = promoted = 0
        for seed in range(runs):
            rows, labels = stream(seed, rate, 300.0)
            canary = run_canary(rows, labels, every(TICK_MS, 300_000))
            rolled += "rollback" in canary.actions
            promoted += "promote" in canary.actions
        print(f"guardrails, equally good retrain at {rate:g} events/s, 5 min: rolled back {rolled}/{runs}, "
              f"promoted {promoted}/{runs}")  # fmt: skip
    rows, labels = stream(3, 200.0, 300.0, useless=True)
    minutes = every(TICK_MS, 600_000)
    later = run_canary(rows, labels, minutes + [t for t in every(3_600_000, 4 * 86_400_000) if t > minutes[-1]])
    hours = len(later.actions) - len(minutes)
    print(f"guardrails, useless model with the champion's score distribution, 200 events/s: held at stage "
          f"{later.rollout.stage} for labels, then {later.actions[-1]} at hour {hours}")  # fmt: skip


if __name__ == "__main__":
    promotion()
    ab()
    srm()
    guardrails()
