"""The figures of docs/statistics.md's data-drift, concept-drift and alarm-budget sections, from the same seeded
simulations as the tests (the tests assert the bounds, this prints the counts). Run: python -m tests.drift_figures
(a few minutes on one core)."""

from __future__ import annotations

import numpy as np

from schemas.synthetic import SPEC, DriftConfig
from streams.config import load_config
from streams.drift import DriftMonitor, DriftPolicy
from streams.summary import Layout
from streams.windows import WindowSpec
from tests.unit.streams.conftest import generator_after_reference, live, reference_of
from tests.unit.streams.test_alarm_budget import drift_free_days
from tests.unit.streams.test_concept_baseline import burst_days
from tests.unit.streams.test_drift_quantiles import (
    ks_rejections,
    lognormal,
    monitor_of,
    normal,
    wasserstein_ratios,
    windows,
)


def quantiles() -> None:
    for draw in (normal, lognormal):
        r = wasserstein_ratios(draw)
        print(f"Wasserstein / scipy on raw samples, {draw.__name__}: median {np.median(r):.3f}, "
              f"range {r.min():.3f}-{r.max():.3f} over {len(r)} drifted windows of 2,000")  # fmt: skip
    rng = np.random.default_rng(8)
    reference = rng.normal(size=50_000)
    for shift in (0.0, 0.1):
        ours, scipys = ks_rejections(shift, 300, rng, reference)
        print(f"KS at 0.05, windows of 1,000, shift {shift} SD: ours {ours}/300, scipy raw {scipys}/300")
    rng = np.random.default_rng(9)
    reference = rng.normal(size=60_000)
    for n, trials in ((5_000, 300), (20_000, 150)):
        for shift in (0.0, 0.1):
            samples = [rng.normal(shift, 1.0, n) for _ in range(trials)]
            rejected = sum(r.columns[0].p_value <= 0.05 for r in windows(monitor_of(reference), samples))
            print(f"KS at 0.05, windows of {n:,}, shift {shift} SD: {rejected}/{trials} rejected")


def aa_and_shift() -> None:
    """The transaction stream's 16 features at alpha 0.05 per window, Holm across columns (tests/unit/streams/
    test_drift.py)."""
    seed = 21
    monitor = DriftMonitor(Layout.of_features(SPEC, reference_of(seed)), WindowSpec.tumbling(2_500), DriftPolicy(0.05))
    generator = generator_after_reference(seed)
    reports = []
    for _ in range(5):
        batch = live(generator, 25_000)
        reports += monitor.add(batch.features, batch.times_ms)
    tested = [r for r in reports + monitor.close_all() if r.tested]
    print(f"A/A transactions, windows of ~500 events: {sum(r.alarm for r in tested)}/{len(tested)} windows alarmed")
    shifted_ref = reference_of(31)
    for feature in ("customer_age", "merchant_risk_score", "card_present", "hour_of_day", "amount"):
        start = 50_000
        generator = generator_after_reference(31, start, DriftConfig(data_drift_at=start, shift={feature: 0.2}))
        drifted = live(generator, 20_000)
        monitor = DriftMonitor(Layout.of_features(SPEC, shifted_ref), WindowSpec.tumbling(5_000), DriftPolicy(0.05))
        windows_ = [r for r in monitor.add(drifted.features, drifted.times_ms) + monitor.close_all() if r.tested]
        first = next(r for r in windows_ if feature in r.flagged_columns)
        delay = int(np.sum(drifted.times_ms < first.end_ms))
        flagged = sum(feature in r.flagged_columns for r in windows_)
        others = sum(bool(set(r.flagged_columns) - {feature}) for r in windows_)
        print(f"0.2 SD shift of {feature}: flagged after {delay} drifted events; in {flagged}/{len(windows_)} "
              f"windows; other features flagged in {others}")  # fmt: skip


def budget() -> None:
    options = load_config(None).for_model("fraud").drift
    days, tested = drift_free_days(options, 20)
    print(f"default budget (alpha {options.alpha:.3g} per window and source): {days}/20 drift-free days paged "
          f"({tested} windows tested)")  # fmt: skip
    fixed = load_config(None).for_model("fraud", drift={"alpha": 0.05}).drift
    days, tested = drift_free_days(fixed, 20)
    print(f"alpha 0.05 per window: {days}/20 drift-free days paged ({tested} windows tested)")


def concept() -> None:
    bursts, days, alarms, tested = burst_days()
    print(f"concept drift, no decay, alpha 0.05 per window: {bursts}/{days} days with 5+ alarms; "
          f"{alarms}/{tested} windows alarmed")  # fmt: skip


if __name__ == "__main__":
    quantiles()
    aa_and_shift()
    budget()
    concept()
