"""SRM at the unit of assignment, tested sequentially: a correct split keeps alpha however often it is looked
at, on the synthetic stream's 5,000 cards with their real (heavy-tailed) activity; a lossy path is found."""

from __future__ import annotations

import functools

import numpy as np
from scipy import stats

from schemas.synthetic import TransactionGenerator
from scorers.rollouts.split import TrafficSplit
from scorers.rollouts.srm import EntitySrm, SequentialSrm

LOOK_EVERY = 500  # events between two evaluations (2.5 s at 200 events/s)


@functools.cache
def card_stream(n: int = 100_000) -> tuple[str, ...]:
    """The entity of each of n synthetic events, in order."""
    return tuple(r["entity_id"] for r in TransactionGenerator(seed=21).generate(n).records)


def false_alarms(alpha: float, runs: int, checkpoints: tuple[int, ...]) -> dict[int, int]:
    """Runs with an SRM raised by each checkpoint (events), a correct 50/50 split, one salt per run."""
    entities = card_stream()
    raised = dict.fromkeys(checkpoints, 0)
    for run in range(runs):
        srm = EntitySrm(TrafficSplit(0.5, f"salt-{run}"), 1.0, alpha)
        for start in range(0, max(checkpoints), LOOK_EVERY):
            srm.add(entities[start : start + LOOK_EVERY])
            result = srm.result()
            assert result is not None
            for checkpoint in checkpoints:
                if start + LOOK_EVERY == checkpoint:
                    raised[checkpoint] += result.mismatch
    return raised


def test_a_correct_split_raises_srm_at_most_at_alpha_under_repeated_looks() -> None:
    runs, alpha = 60, 0.05  # alpha 0.05 (the rollout default is 0.001) so that a breach would show in 60 runs
    raised = false_alarms(alpha, runs, (10_000, 100_000))
    for checkpoint, count in raised.items():
        assert stats.binomtest(count, runs, alpha, alternative="greater").pvalue > 0.01, (checkpoint, count)


def test_events_are_the_wrong_unit_on_this_stream() -> None:
    """The control: the same looks with the former event-level chi-square raise far more than alpha."""
    entities = np.array(card_stream()[:10_000])
    runs, raised = 60, 0
    for run in range(runs):
        split = TrafficSplit(0.5, f"salt-{run}")
        served = {e: split.serves_candidate(e) for e in set(entities.tolist())}
        candidate = np.cumsum([served[e] for e in entities.tolist()])
        for n in range(LOOK_EVERY, len(entities) + 1, LOOK_EVERY):
            observed = [candidate[n - 1], n - candidate[n - 1]]
            if stats.chisquare(observed, [n / 2, n / 2]).pvalue < 0.001:
                raised += 1
                break
    assert raised / runs > 0.1


def test_a_path_that_loses_a_fifth_of_one_variants_entities_is_found() -> None:
    entities = card_stream()
    found, runs = 0, 20
    rng = np.random.default_rng(0)
    for run in range(runs):
        split = TrafficSplit(0.5, f"salt-{run}")
        lost = {e for e in set(entities) if not split.serves_candidate(e) and rng.random() < 0.2}
        srm = EntitySrm(split, 1.0, 0.001)
        srm.add([e for e in entities if e not in lost])
        result = srm.result()
        assert result is not None
        found += result.mismatch
    assert found / runs >= 0.9


def test_the_e_value_is_the_dirichlet_multinomial_likelihood_ratio() -> None:
    srm = SequentialSrm([0.3, 0.7], alpha=0.05, concentration=10.0)
    srm.add(np.array([0, 1, 1, 0, 1]))
    a = np.array([3.0, 7.0])
    # Sequential probability of 0,1,1,0,1 under Dirichlet(3, 7) by Polya urn, over the null's 0.3^2 0.7^3.
    urn = (3 / 10) * (7 / 11) * (8 / 12) * (4 / 13) * (9 / 14)
    assert np.isclose(srm.log_e, np.log(urn / (0.3**2 * 0.7**3)))
    assert a.sum() == 10.0
