"""The drift monitor on synthetic transactions: false alarms under no drift, detection of a 0.2 SD shift,
bounded state, late events, restarts."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from schemas.features import Feature, FeatureSpec
from schemas.synthetic import DriftConfig
from scorers.profile import NumericProfile, ReferenceProfile
from streams.drift import DriftMonitor, DriftPolicy, WindowReport
from streams.summary import Layout
from streams.windows import WindowSpec
from tests.unit.streams.conftest import generator_after_reference, live, reference_of

ALPHA = 0.05
EVENTS_PER_S = 200  # the generator's default rate


def run(monitor: DriftMonitor, generator_batches: list[tuple[np.ndarray, np.ndarray]]) -> list[WindowReport]:
    reports: list[WindowReport] = []
    for rows, times in generator_batches:
        reports += monitor.add(rows, times)
    return reports + monitor.close_all()


def test_without_drift_a_window_false_alarms_at_most_at_rate_alpha(spec: FeatureSpec) -> None:
    """A/A: 250 windows of ~500 events from the reference's own population; one-sided binomial test."""
    seed = 21
    monitor = DriftMonitor(Layout.of_features(spec, reference_of(seed)), WindowSpec.tumbling(2_500), DriftPolicy(ALPHA))
    generator = generator_after_reference(seed)
    batches = [(b.features, b.times_ms) for b in (live(generator, 25_000) for _ in range(5))]
    tested = [r for r in run(monitor, batches) if r.tested]
    assert len(tested) >= 240
    alarms = sum(r.alarm for r in tested)
    assert binomtest(alarms, len(tested), ALPHA, alternative="greater").pvalue > 0.01, f"{alarms}/{len(tested)}"


@pytest.mark.parametrize("feature", ["customer_age", "merchant_risk_score", "card_present", "hour_of_day"])
def test_a_shift_of_a_fifth_of_a_standard_deviation_is_flagged_within_2000_events_and_alone(
    spec: FeatureSpec, feature: str
) -> None:
    """Windows of 5 s (~1,000 events); the shift starts right after the reference's 50,000 events."""
    seed = 31
    start = 50_000
    generator = generator_after_reference(seed, start, DriftConfig(data_drift_at=start, shift={feature: 0.2}))
    first_drifted = live(generator, 20_000)
    monitor = DriftMonitor(Layout.of_features(spec, reference_of(seed)), WindowSpec.tumbling(5_000), DriftPolicy(ALPHA))
    reports = [r for r in run(monitor, [(first_drifted.features, first_drifted.times_ms)]) if r.tested]
    drift_time = int(first_drifted.times_ms[0])
    # Events from the drift's start to the end of the first window that flags the shifted feature.
    detected = next(r for r in reports if feature in r.flagged_columns)
    delay = int(np.sum((first_drifted.times_ms >= drift_time) & (first_drifted.times_ms < detected.end_ms)))
    assert delay <= 2_000
    # Over the whole run: the shifted feature is flagged in (nearly) every window, no other feature more than
    # its error budget allows.
    flagged_rate = np.mean([feature in r.flagged_columns for r in reports])
    assert flagged_rate >= 0.9
    others = sum(bool(set(r.flagged_columns) - {feature}) for r in reports)
    assert binomtest(others, len(reports), ALPHA, alternative="greater").pvalue > 0.01
    assert others <= 1


def test_a_shifted_score_distribution_is_flagged() -> None:
    rng = np.random.default_rng(4)
    profile = NumericProfile.of(rng.beta(1, 30, 50_000))
    layout = Layout.of_score(profile)
    monitor = DriftMonitor(layout, WindowSpec.tumbling(1_000), DriftPolicy(ALPHA))
    times = np.arange(10_000) * 1  # 1 ms apart: ten windows of 1,000 scores
    same = run(monitor, [(rng.beta(1, 30, 10_000)[:, None], times)])
    monitor = DriftMonitor(layout, WindowSpec.tumbling(1_000), DriftPolicy(ALPHA))
    shifted = run(monitor, [(rng.beta(1.2, 30, 10_000)[:, None], times)])
    assert sum(r.alarm for r in same) <= 1
    assert all(r.alarm and r.flagged_columns == ["score"] for r in shifted)


def toy_layout() -> Layout:
    profile = ReferenceProfile(1000, {"x": NumericProfile.of(np.random.default_rng(0).normal(size=1000))}, {}, None)
    return Layout.of_features(FeatureSpec("toy", (Feature("x", "numeric", "double"),)), profile)


def test_state_stays_bounded_however_long_the_stream() -> None:
    """Memory depends on the window shape only: 10x more windows (and events) leave the same state."""
    spec = WindowSpec(size_ms=60_000, slide_ms=10_000, lateness_ms=5_000)
    bound = (spec.size_ms + spec.lateness_ms) // spec.slide_ms + 2
    rng = np.random.default_rng(1)
    monitor = DriftMonitor(toy_layout(), spec, DriftPolicy(ALPHA, min_events=10))
    sizes = []
    reports = 0
    for step in range(1, 601):  # 600 batches of 1,000 events over 10 s each: 6,000 s of stream, 600k events
        times = (step - 1) * 10_000 + np.sort(rng.integers(0, 10_000, 1_000))
        reports += len(monitor.add(rng.normal(size=(1_000, 1)), times))
        assert monitor.open_panes <= bound
        if step in (60, 600):
            sizes.append(monitor.state_nbytes)
    assert reports > 500
    assert sizes[0] == sizes[1]


def test_late_events_are_counted_and_reported_with_the_next_window() -> None:
    monitor = DriftMonitor(toy_layout(), WindowSpec.tumbling(1_000), DriftPolicy(ALPHA, min_events=1))
    assert [r.start_ms for r in monitor.add(np.zeros((3, 1)), np.array([10, 500, 1_100]))] == [0]
    assert monitor.add(np.zeros((2, 1)), np.array([20, 30])) == []  # [0, 1000) is closed: both late
    reports = monitor.add(np.zeros((1, 1)), np.array([2_500]))
    assert [(r.start_ms, r.events, r.late_events) for r in reports] == [(1_000, 1, 2)]
    assert monitor.late_total == 2


def test_offsets_to_commit_are_the_oldest_still_in_an_open_window_and_restarts_skip_reported_windows() -> None:
    monitor = DriftMonitor(toy_layout(), WindowSpec.tumbling(1_000), DriftPolicy(ALPHA, min_events=1))
    monitor.add(np.zeros((2, 1)), np.array([10, 20]), np.array([0, 1]), np.array([5, 7]))
    assert monitor.commit_offsets() == {0: 5, 1: 7}
    monitor.add(np.zeros((2, 1)), np.array([1_500, 1_600]), np.array([0, 1]), np.array([6, 8]))  # closes [0, 1000)
    assert monitor.commit_offsets() == {0: 6, 1: 8}
    restarted = DriftMonitor(toy_layout(), WindowSpec.tumbling(1_000), DriftPolicy(ALPHA, min_events=1), 1_000)
    reports = restarted.add(np.zeros((4, 1)), np.array([1_500, 1_600, 2_100, 3_000]))
    assert [r.start_ms for r in reports] == [1_000, 2_000]
