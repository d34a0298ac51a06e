"""Promotion decisions through the join and the tracker, as the promotion processor drives them."""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from scipy.stats import binomtest

from streams.join import HorizonSettings, LabelJoin
from streams.promotion import PromotionPolicy, PromotionReport, PromotionTracker
from streams.sequential import SequentialConfig
from tests.unit.streams.delayed import HORIZON_MS, delayed_stream

ALPHA = 0.05
POLICY = PromotionPolicy(SequentialConfig(alpha=ALPHA, min_n=500), report_every=2_000)


def simulate(seed: int, n: int, challenger_noise: float, batch: int = 500) -> list[PromotionReport]:
    """Champion v1 and challenger v2 score n events; labels come 10 s later, in batches, in a shuffled order."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(-4.5, 1.5, n)
    labels = (rng.random(n) < expit(truth)).astype(int)
    champion = expit(truth + rng.normal(0, 1.0, n))
    challenger = expit(truth + rng.normal(0, challenger_noise, n))
    ids = [f"e{i}" for i in range(n)]
    times = np.arange(n) * 5
    join = LabelJoin(HorizonSettings(20_000, n + 1, label_lateness_ms=5_000, prediction_lateness_ms=0))
    tracker = PromotionTracker(POLICY)
    reports: list[PromotionReport] = []
    src = [("p", 0)] * batch
    for start in range(0, n, batch):
        part = slice(start, start + batch)
        k = len(ids[part])
        at = times[part].tolist()
        join.predictions(src[:k], list(range(k)), ids[part], [1] * k, champion[part].tolist(), at, True)
        join.predictions(src[:k], list(range(k)), ids[part], [2] * k, challenger[part].tolist(), at, False)
        order = rng.permutation(np.arange(start, start + k))
        label_src = [("labels", 0)] * k
        join.labels(label_src, list(range(k)), [ids[i] for i in order], labels[order].tolist(),
                    (times[order] + 10_000).tolist())  # fmt: skip
        for (c, ch), (a, b, y, t) in join.close().pairs.items():
            reports += tracker.add(c, ch, np.array(a), np.array(b), np.array(y), np.array(t))
    return reports


def delayed_promotions(
    seed: int, n: int, policy: PromotionPolicy, chunk: int = 2_000
) -> tuple[list[PromotionReport], PromotionTracker]:
    """The promotion worker's join and tracker on a stream under the real delay model, in arrival order."""
    s = delayed_stream(seed, n)
    join = LabelJoin(HorizonSettings(HORIZON_MS, 10 * n, prediction_lateness_ms=0))  # the stream lasts 15 s
    tracker = PromotionTracker(policy)
    # Arrival order: predictions at their event time, labels at their label time.
    arrival = np.concatenate([s.event_times, s.label_times])
    order = np.argsort(arrival, kind="stable")
    reports: list[PromotionReport] = []
    for part in np.array_split(order, max(1, len(order) // chunk)):
        predicted, labelled = part[part < n], part[part >= n] - n
        ids = [s.event_ids[i] for i in predicted]
        src, offsets = [("predictions", 0)] * len(ids), predicted.tolist()
        times = s.event_times[predicted].tolist()
        join.predictions(src, offsets, ids, [1] * len(ids), s.champion[predicted].tolist(), times, True)
        shadow = [("shadow-predictions", 0)] * len(ids)
        join.predictions(shadow, offsets, ids, [2] * len(ids), s.challenger[predicted].tolist(), times, False)
        join.labels([("labels", 0)] * len(labelled), labelled.tolist(), [s.event_ids[i] for i in labelled],
                    s.labels[labelled].tolist(), s.label_times[labelled].tolist())  # fmt: skip
        for (c, ch), (a, b, y, t) in join.close().pairs.items():
            reports += tracker.add(c, ch, np.array(a), np.array(b), np.array(y), np.array(t))
    return reports, tracker


def test_late_labels_do_not_promote_an_equally_good_challenger_with_another_calibration() -> None:
    """Same expected log loss, opposite calibration, real delays (fraud in hours, legitimate in days): labels
    in arrival order promoted this challenger in every run; at the horizon it is promoted at most at alpha."""
    policy = PromotionPolicy(SequentialConfig(alpha=ALPHA, design_n=3_000, min_n=200), report_every=10**9)
    runs, promoted = 100, 0
    for seed in range(runs):
        reports, tracker = delayed_promotions(seed, 3_000, policy)
        promoted += any(r.decision == "PROMOTE" for r in reports)
        (standing,) = tracker.reports()
        assert standing.result.n == 3_000 or standing.result.verdict != "continue"  # every event was tested
    assert binomtest(promoted, runs, ALPHA, alternative="greater").pvalue > 0.01, promoted
    assert promoted / runs <= ALPHA + 0.04


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
