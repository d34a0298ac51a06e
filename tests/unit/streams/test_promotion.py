"""Promotion decisions through the join and the tracker, as the promotion processor drives them."""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from scipy.stats import binomtest

from streams.join import LabelJoin
from streams.promotion import PromotionPolicy, PromotionReport, PromotionTracker
from streams.sequential import SequentialConfig

ALPHA = 0.05
POLICY = PromotionPolicy(SequentialConfig(alpha=ALPHA, min_n=500), report_every=2_000)


def simulate(seed: int, n: int, challenger_noise: float, batch: int = 500) -> list[PromotionReport]:
    """Champion v1 and challenger v2 score n events; labels come later, in batches, in a shuffled order."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(-4.5, 1.5, n)
    labels = (rng.random(n) < expit(truth)).astype(int)
    champion = expit(truth + rng.normal(0, 1.0, n))
    challenger = expit(truth + rng.normal(0, challenger_noise, n))
    ids = [f"e{i}" for i in range(n)]
    times = np.arange(n) * 5
    join = LabelJoin(horizon_ms=10**9, max_pending=n + 1)
    join.expect([2])
    tracker = PromotionTracker(POLICY)
    reports: list[PromotionReport] = []
    src = [("p", 0)] * batch
    for start in range(0, n, batch):
        part = slice(start, start + batch)
        k = len(ids[part])
        join.predictions(
            src[:k], list(range(k)), ids[part], [1] * k, champion[part].tolist(), times[part].tolist(), True, [True] * k
        )
        join.predictions(
            src[:k],
            list(range(k)),
            ids[part],
            [2] * k,
            challenger[part].tolist(),
            times[part].tolist(),
            False,
            [True] * k,
        )
        order = rng.permutation(np.arange(start, start + k))
        joined = join.labels(
            src[:k],
            list(range(k)),
            [ids[i] for i in order],
            labels[order].tolist(),
            (times[order] + 10_000).tolist(),
            [True] * k,
        )
        for (c, ch), (a, b, y, t) in joined.pairs.items():
            reports += tracker.add(c, ch, np.array(a), np.array(b), np.array(y), np.array(t))
    return reports


def test_a_truly_better_challenger_earns_promote_with_its_evidence() -> None:
    reports = simulate(1, 30_000, 0.6)
    final = reports[-1]
    assert final.decision == "PROMOTE"
    assert (final.champion, final.challenger) == (1, 2)
    r = final.result
    assert r.lower > 0
    assert r.p_value <= ALPHA
    assert final.challenger_loss < final.champion_loss
    assert final.relative_improvement > 0
    assert r.stopped_at == r.n < 30_000
    assert [x.decision for x in reports[:-1]] == ["HOLD"] * (len(reports) - 1)  # periodic HOLD reports before


def test_an_identical_challenger_earns_promote_at_most_at_rate_alpha() -> None:
    """A/A through the tracker, checked after every pair (the join's exactly-once is tested on its own)."""
    rng = np.random.default_rng(5)
    runs, n, promoted = 300, 8_000, 0
    for _ in range(runs):
        truth = rng.normal(-4.5, 1.5, n)
        labels = (rng.random(n) < expit(truth)).astype(int)
        champion, challenger = (expit(truth + rng.normal(0, 1.0, n)) for _ in range(2))
        tracker = PromotionTracker(POLICY)
        for part in np.array_split(np.arange(n), 8):
            reports = tracker.add(1, 2, champion[part], challenger[part], labels[part], part)
            promoted += any(r.decision == "PROMOTE" for r in reports)
    assert binomtest(promoted, runs, ALPHA, alternative="greater").pvalue > 0.01


def test_a_worse_challenger_is_rejected() -> None:
    reports = simulate(2, 30_000, 1.6)
    assert reports[-1].decision == "REJECT"
    assert reports[-1].reason == "worse"


def test_the_tracker_state_round_trips() -> None:
    tracker = PromotionTracker(POLICY)
    rng = np.random.default_rng(0)
    a, b = rng.random(700), rng.random(700)
    y = (rng.random(700) < 0.3).astype(int)
    tracker.add(1, 2, a, b, y, np.arange(700))
    restored = PromotionTracker(POLICY)
    restored.restore(tracker.state())
    assert restored.reports() == tracker.reports()
