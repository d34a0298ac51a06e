"""The default false-alarm budget: a drift-free stream pages on at most ~5% of days, not every few hours.

Drives the drift worker's own policy (``drift_worker.policy`` of the default ``DriftOptions``) through the
monitors it builds: one for the features, one for the score, 300 s windows of one event a second.
"""

from __future__ import annotations

import numpy as np

from schemas.features import Feature, FeatureSpec
from scorers.profile import NumericProfile, ReferenceProfile
from streams.config import DAY_S, DriftOptions, load_config
from streams.drift import DriftMonitor
from streams.drift_worker import policy, window_spec
from streams.summary import Layout

DAYS = 10


def drift_free_days(options: DriftOptions, days: int, seed: int = 2026) -> tuple[int, int]:
    """(days with at least one alarm, windows tested) over ``days`` drift-free days."""
    rng = np.random.default_rng(seed)
    spec = FeatureSpec("toy", tuple(Feature(name, "numeric", "double") for name in ("a", "b")))
    reference = ReferenceProfile(
        50_000, {name: NumericProfile.of(rng.normal(size=50_000)) for name in ("a", "b")}, {}, None
    )
    features = DriftMonitor(Layout.of_features(spec, reference), window_spec(options), policy(options))
    score_layout = Layout.of_score(NumericProfile.of(rng.beta(1, 30, 50_000)))
    score = DriftMonitor(score_layout, window_spec(options), policy(options))
    per_day = round(DAY_S)  # one event a second: 288 windows of 300 events a day
    days_with_alarm = windows = 0
    for day in range(days):
        times = day * per_day * 1_000 + np.arange(per_day) * 1_000
        reports = features.add(rng.normal(size=(per_day, 2)), times)
        reports += score.add(rng.beta(1, 30, (per_day, 1)), times)
        windows += sum(r.tested for r in reports)
        days_with_alarm += any(r.alarm for r in reports)
    return days_with_alarm, windows


def test_a_drift_free_stream_false_alarms_on_at_most_the_budgeted_share_of_days() -> None:
    options = load_config(None).for_model("fraud").drift
    assert options.false_alarms_per_day == 0.05
    assert options.window_s == 300
    days_with_alarm, windows = drift_free_days(options, DAYS)
    assert windows >= 2 * 287 * DAYS
    # Budget 5% of days: 0.5 expected at most; 3 or more of 10 has probability ~1% under the budget.
    assert days_with_alarm <= 2, f"{days_with_alarm} of {DAYS} drift-free days paged"
