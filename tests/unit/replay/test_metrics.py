"""Backtest statistics: scikit-learn metrics on labelled events, per slice, calibration, and drift that shows."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

from schemas.features import FeatureSpec
from scorers.registry import ModelVersion
from scorers.replay.findings import find
from scorers.replay.metrics import (
    calibration,
    feature_drift,
    grouped_metrics,
    metrics,
    over_time,
    psi_and_p_value,
    slice_edges,
    slice_of,
)
from scorers.replay.ranges import PartitionRange, ReplayRange
from scorers.replay.results import Backtest
from streams.drift_stats import compare
from streams.summary import Layout

RANGE = ReplayRange("t.events", (PartitionRange(0, 0, 24_000),), 0, 1)


def test_metrics_use_only_labelled_events(backtest: Backtest) -> None:
    scores = backtest.scores[("fraud", 1)]
    m = metrics(scores, backtest.labels, backtest.known)
    y, p = backtest.labels[backtest.known], scores[backtest.known].astype(np.float64)
    assert (m.events, m.labelled, m.positives) == (24_000, 21_600, int(y.sum()))
    assert m.auc is not None
    assert abs(m.auc - roc_auc_score(y, p)) < 1e-12
    assert abs(m.log_loss - log_loss(y, np.clip(p, 1e-6, 1 - 1e-6))) < 1e-12
    assert abs(m.brier - brier_score_loss(y, p)) < 1e-12
    assert abs(m.mean_score - scores.mean()) < 1e-6


def test_one_class_has_no_auc_and_no_labels_no_metrics() -> None:
    scores = np.array([0.1, 0.2, 0.3], dtype=np.float32)
    one_class = metrics(scores, np.zeros(3, np.int8), np.ones(3, bool))
    assert one_class.auc is None
    assert one_class.log_loss is not None
    unlabelled = metrics(scores, np.zeros(3, np.int8), np.zeros(3, bool))
    assert (unlabelled.labelled, unlabelled.auc, unlabelled.log_loss, unlabelled.brier) == (0, None, None, None)
    assert calibration(scores, np.zeros(3, np.int8), np.ones(3, bool)) is None


def test_slices_cover_every_event_once(backtest: Backtest) -> None:
    edges = slice_edges(backtest.event_times, 12)
    which = slice_of(backtest.event_times, edges)
    assert which.min() == 0
    assert which.max() == 11
    whole, per_slice = over_time(backtest, edges)[("fraud", 1)]
    assert sum(m.events for m in per_slice) == whole.events == len(backtest)
    assert sum(m.labelled for m in per_slice) == whole.labelled == int(backtest.known.sum())


def test_the_whole_range_from_the_slices_sort_equals_its_own_computation(backtest: Backtest) -> None:
    scores = backtest.scores[("fraud", 1)]
    whole, _ = over_time(backtest, slice_edges(backtest.event_times, 12))[("fraud", 1)]
    alone = metrics(scores, backtest.labels, backtest.known)
    assert (whole.events, whole.labelled, whole.positives) == (alone.events, alone.labelled, alone.positives)
    for a, b in ((whole.auc, alone.auc), (whole.log_loss, alone.log_loss), (whole.brier, alone.brier)):
        assert a is not None
        assert b is not None
        assert abs(a - b) < 1e-12
    assert abs(whole.mean_score - alone.mean_score) < 1e-12


def test_a_shift_halfway_shows_as_drift_in_the_later_slices_only(
    backtest: Backtest, versions: list[ModelVersion], spec: FeatureSpec
) -> None:
    profile = versions[0].reference_profile
    assert profile is not None
    edges = slice_edges(backtest.event_times, 8)
    drift = feature_drift(backtest, edges, spec, profile)
    amount = drift.columns.index("amount")
    assert np.all(drift.psi[amount, :3] < 0.1)
    assert np.all(drift.psi[amount, 5:] > 0.25)
    assert np.all(drift.p_values[amount, 5:] < 1e-6)
    others = [j for j, c in enumerate(drift.columns) if c not in ("amount", "amount_to_avg_ratio")]
    assert np.nanmax(drift.psi[others]) < 0.1
    assert drift.psi_whole[amount] > 0.1


def test_findings_gather_every_version(backtest: Backtest, versions: list[ModelVersion]) -> None:
    findings = find("transactions", RANGE, 86_400_000, backtest, versions, slices=6)
    assert findings.versions == [("fraud", 1), ("fraud", 2)]
    assert findings.labelled == 21_600
    assert findings.feature_drift[("fraud", 2)] is None  # no reference profile in the registry
    assert findings.score_drift[("fraud", 1)] is not None
    assert findings.calibration[("fraud", 2)] is not None
    assert len(findings.over_time[("fraud", 1)]) == 6
    assert findings.rejects == {"bad-header": 2}


def test_every_slice_matches_scikit_learn_with_tied_scores() -> None:
    rng = np.random.default_rng(5)
    n, groups = 5_000, 7
    scores = (np.round(rng.random(n) * 40) / 40).astype(np.float32)  # many tied scores
    labels = (rng.random(n) < scores * 0.5).astype(np.int8)
    known = rng.random(n) < 0.8
    group = rng.integers(0, groups, n)
    group[group == 3] = 4  # an empty group
    found = grouped_metrics(scores, labels, known, group, groups, whole=True)
    assert len(found) == groups + 1
    for i in range(groups + 1):
        rows = group == i if i < groups else np.ones(n, dtype=bool)  # the last: every event
        m = found[i]
        y, p = labels[rows & known], scores[rows & known].astype(np.float64)
        assert (m.events, m.labelled, m.positives) == (int(rows.sum()), len(y), int(y.sum()))
        if len(y) == 0:
            assert (m.auc, m.log_loss, m.brier) == (None, None, None)
            continue
        assert m.auc is not None
        assert m.log_loss is not None
        assert m.brier is not None
        assert abs(m.auc - roc_auc_score(y, p)) < 1e-12
        assert abs(m.log_loss - log_loss(y, np.clip(p, 1e-6, 1 - 1e-6))) < 1e-12
        assert abs(m.brier - brier_score_loss(y, p)) < 1e-12
        assert abs(m.mean_score - scores[rows].mean()) < 1e-6


def test_the_whole_range_psi_is_that_of_every_event_summarised_at_once(
    backtest: Backtest, versions: list[ModelVersion], spec: FeatureSpec
) -> None:
    """The whole-range PSI comes from the slices' bin counts alone, as from one summary of every row."""
    profile = versions[0].reference_profile
    assert profile is not None
    drift = feature_drift(backtest, slice_edges(backtest.event_times, 8), spec, profile)
    layout = Layout.of_features(spec, profile)
    whole = layout.summary()
    whole.add(layout, backtest.features[:, [backtest.feature_names.index(n) for n in spec.names]])
    expected = [compare(c, whole, j).psi for j, c in enumerate(layout.columns)]
    np.testing.assert_array_equal(drift.psi_whole, expected)


def test_each_slice_gets_the_psi_and_p_value_of_the_full_comparison(
    backtest: Backtest, versions: list[ModelVersion], spec: FeatureSpec
) -> None:
    profile = versions[0].reference_profile
    assert profile is not None
    layout = Layout.of_features(spec, profile)
    summary = layout.summary()
    summary.add(layout, backtest.features[:5_000, [backtest.feature_names.index(n) for n in spec.names]])
    assert any(c.test == "ks" and c.quantiles is not None for c in layout.columns)
    for j, column in enumerate(layout.columns):
        full = compare(column, summary, j)
        assert psi_and_p_value(column, summary, j) == (full.psi, full.p_value)
