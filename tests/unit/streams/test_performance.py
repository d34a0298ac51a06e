"""Windowed performance from labels, and concept drift: the pre-drift truth as champion loses once it drifts."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest, mannwhitneyu

from schemas.synthetic import DriftConfig, TransactionGenerator, ground_truth_probability
from streams.performance import LOGIT_GRID, ConceptPolicy, Performance, PerformanceMonitor, brier, log_loss
from streams.windows import WindowSpec


def test_metrics_match_their_definitions() -> None:
    rng = np.random.default_rng(0)
    scores = rng.beta(1, 20, 5_000)
    labels = (rng.random(5_000) < scores).astype(int)
    summary = Performance()
    summary.add(scores[:2_000], labels[:2_000])
    rest = Performance()
    rest.add(scores[2_000:], labels[2_000:])
    summary.merge(rest)
    metrics = summary.metrics()
    assert metrics.n == 5_000
    assert metrics.log_loss == pytest.approx(log_loss(scores, labels).mean())
    assert metrics.log_loss_std == pytest.approx(log_loss(scores, labels).std(ddof=1))
    assert metrics.brier == pytest.approx(brier(scores, labels).mean())
    # AUC on the grid is Mann-Whitney's U (ties counted half) on the binned scores, and close to the raw AUC.
    bins = np.searchsorted(LOGIT_GRID, np.log(scores) - np.log1p(-scores))
    u = mannwhitneyu(bins[labels == 1], bins[labels == 0]).statistic
    assert metrics.auc == pytest.approx(u / (labels.sum() * (1 - labels).sum()))
    raw = mannwhitneyu(scores[labels == 1], scores[labels == 0]).statistic / (labels.sum() * (1 - labels).sum())
    assert metrics.auc == pytest.approx(raw, abs=0.002)


def oracle_windows(concept_drift_at: int | None, n: int, window_ms: int) -> list:  # type: ignore[type-arg]
    """The pre-drift truth scores every event (a perfect model until the concept drifts)."""
    generator = TransactionGenerator(5, drift=DriftConfig(concept_drift_at=concept_drift_at))
    batch = generator.generate(n)
    features = batch.features()
    times = np.array([r["event_time"] for r in batch.records], dtype=np.int64)
    monitor = PerformanceMonitor(WindowSpec.tumbling(window_ms, lateness_ms=0), ConceptPolicy(alpha=0.05))
    monitor.add(ground_truth_probability(features), batch.labels, times)
    return monitor.close_all()


def test_concept_drift_is_flagged_once_labels_follow_the_new_truth() -> None:
    reports = oracle_windows(concept_drift_at=40_000, n=80_000, window_ms=50_000)  # ~10,000 events a window
    before = [r for r in reports if r.end_ms <= reports[0].start_ms + 200_000]
    after = [r for r in reports if r.start_ms >= reports[0].start_ms + 200_000]
    assert reports[0].baseline is None  # the first window is the baseline
    assert not any(r.alarm for r in before)
    assert all(r.alarm for r in after)
    assert all(r.degradation is not None and r.degradation > 0.1 for r in after)


def test_without_concept_drift_windows_rarely_alarm() -> None:
    reports = [r for r in oracle_windows(None, 120_000, 20_000) if r.p_value is not None]
    assert len(reports) >= 25
    alarms = sum(r.alarm for r in reports)
    assert binomtest(alarms, len(reports), 0.05, alternative="greater").pvalue > 0.01


def test_a_window_closes_once_the_label_watermark_passes_its_end_plus_the_horizon() -> None:
    monitor = PerformanceMonitor(WindowSpec.tumbling(1_000, lateness_ms=5_000), ConceptPolicy(min_labels=1))
    monitor.add(np.array([0.1, 0.9]), np.array([0, 1]), np.array([100, 200]))
    assert monitor.advance(np.array([5_900])) == []
    (report,) = monitor.advance(np.array([6_000]))
    assert (report.start_ms, report.end_ms, report.metrics.n, report.metrics.auc) == (0, 1_000, 2, 1.0)
    monitor.add(np.array([0.5]), np.array([1]), np.array([300]))  # its window has closed: late
    assert monitor.late == 1
