"""Drift kept by its inputs: a backtest over the same events against the same reference reads what an earlier one
computed (equal, array for array), anything else computes again, and a damaged file is recomputed.

PSI comes from bin counts and is the same however often it is computed; a KS p-value comes from a KLL sketch,
whose compaction is randomised, so two computations agree on it only within the sketch's error: a value read
back equals the one computed first exactly."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from schemas.features import FeatureSpec
from scorers.registry import ModelVersion
from scorers.replay.drift_memo import FOLDER, DriftMemo, digest
from scorers.replay.findings import Findings, find
from scorers.replay.metrics import Drift, feature_drift, slice_edges
from scorers.replay.results import Backtest
from tests.unit.replay.test_metrics import RANGE


class Counted:
    """The memo's ``drift``, counting the computations it could not avoid."""

    def __init__(self, memo: DriftMemo) -> None:
        self.memo, self.computed = memo, 0

    def __call__(
        self, reference: str, values: np.ndarray, times: np.ndarray, edges: np.ndarray, compute: Callable[[], Drift]
    ) -> Drift:
        def counted() -> Drift:
            self.computed += 1
            return compute()

        return self.memo.drift(reference, values, times, edges, counted)


def same_drift(a: Drift | None, b: Drift | None, *, read_back: bool = True) -> None:
    """Equal drift; ``read_back``: ``b`` is ``a`` read from the memo, so its sketch p-values are ``a``'s too."""
    assert a is not None
    assert b is not None
    assert (a.columns, a.tests) == (b.columns, b.tests)
    for x, y in ((a.psi, b.psi), (a.psi_whole, b.psi_whole)):
        np.testing.assert_array_equal(x, y)  # NaN where a slice is empty, on both sides
    if read_back:
        np.testing.assert_array_equal(a.p_values, b.p_values)
    else:  # two computations: the same slices tested, each p-value a probability
        np.testing.assert_array_equal(np.isnan(a.p_values), np.isnan(b.p_values))
        assert np.all((b.p_values[~np.isnan(b.p_values)] >= 0) & (b.p_values[~np.isnan(b.p_values)] <= 1))


def drifts(findings: Findings) -> list[Drift | None]:
    return [*findings.feature_drift.values(), *findings.score_drift.values()]


def test_a_second_backtest_over_the_same_events_reads_the_drift_the_first_computed(
    backtest: Backtest, versions: list[ModelVersion], tmp_path: Path
) -> None:
    plain = find("transactions", RANGE, 86_400_000, backtest, versions, slices=6)
    first = Counted(DriftMemo(tmp_path))
    cold = find("transactions", RANGE, 86_400_000, backtest, versions, slices=6, memo=first)
    again = Counted(DriftMemo(tmp_path))
    warm = find("transactions", RANGE, 86_400_000, backtest, versions, slices=6, memo=again)
    assert first.computed == 2  # features once (one reference profile), the score of the version that has one
    assert again.computed == 0
    assert again.memo.hits == 2
    for a, b, c in zip(drifts(plain), drifts(cold), drifts(warm), strict=True):
        if a is None:
            assert b is None
            assert c is None
            continue
        same_drift(a, b, read_back=False)  # computed afresh, then kept
        same_drift(b, c)


def test_other_events_another_reference_or_other_slices_compute_again(
    backtest: Backtest, versions: list[ModelVersion], spec: FeatureSpec, tmp_path: Path
) -> None:
    profile = versions[0].reference_profile
    assert profile is not None
    edges = slice_edges(backtest.event_times, 6)
    memo = Counted(DriftMemo(tmp_path))
    feature_drift(backtest, edges, spec, profile, memo)
    features = backtest.features.copy()
    features[17, 0] += 1.0  # one value of one event
    changed = dataclasses.replace(backtest, features=features)
    shifted = dataclasses.replace(profile, numeric={**profile.numeric})
    name = next(iter(shifted.numeric))
    shifted.numeric[name] = dataclasses.replace(shifted.numeric[name], mean=shifted.numeric[name].mean + 1)
    feature_drift(changed, edges, spec, profile, memo)
    feature_drift(backtest, edges, spec, shifted, memo)
    feature_drift(backtest, slice_edges(backtest.event_times, 5), spec, profile, memo)
    assert memo.computed == 4
    feature_drift(backtest, edges, spec, profile, memo)
    assert memo.computed == 4  # the first inputs again: read back


@pytest.mark.parametrize("damage", [b"", b"not a numpy archive", None])
def test_a_damaged_file_is_recomputed_and_written_again(
    backtest: Backtest, versions: list[ModelVersion], spec: FeatureSpec, tmp_path: Path, damage: bytes | None
) -> None:
    profile = versions[0].reference_profile
    assert profile is not None
    edges = slice_edges(backtest.event_times, 6)
    expected = feature_drift(backtest, edges, spec, profile, Counted(DriftMemo(tmp_path)))
    (path,) = (tmp_path / FOLDER).glob("*.npz")
    if damage is None:  # a readable archive of arrays that do not fit together
        np.savez(path, columns=np.array(["a"]), tests=np.array(["ks"]), psi=np.zeros((2, 6)),
                 p_values=np.zeros((2, 6)), psi_whole=np.zeros(2))  # fmt: skip
    else:
        path.write_bytes(damage)
    memo = Counted(DriftMemo(tmp_path))
    recomputed = feature_drift(backtest, edges, spec, profile, memo)
    same_drift(expected, recomputed, read_back=False)
    assert memo.computed == 1
    same_drift(recomputed, feature_drift(backtest, edges, spec, profile, memo))
    assert memo.computed == 1  # written again


def test_the_oldest_files_go_beyond_the_bound(backtest: Backtest, tmp_path: Path) -> None:
    memo = DriftMemo(tmp_path, max_files=3)
    result = Drift(("a",), ("ks",), np.zeros((1, 2)), np.ones((1, 2)), np.zeros(1))
    times = backtest.event_times[:10]
    for i in range(5):
        memo.drift("reference", np.full((10, 1), float(i)), times, np.arange(3), lambda: result)
    assert len(list((tmp_path / FOLDER).glob("*.npz"))) == 3


def test_a_folder_that_cannot_be_written_costs_a_warning_not_the_backtest(
    backtest: Backtest,
    versions: list[ModelVersion],
    spec: FeatureSpec,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    profile = versions[0].reference_profile
    assert profile is not None
    edges = slice_edges(backtest.event_times, 6)
    blocked = tmp_path / "cache"
    blocked.write_text("a file where the cache folder should be")
    memo = Counted(DriftMemo(blocked))
    drift = feature_drift(backtest, edges, spec, profile, memo)
    same_drift(feature_drift(backtest, edges, spec, profile), drift, read_back=False)
    assert memo.computed == 1
    assert "could not keep drift results" in caplog.text


def test_the_digest_reads_a_column_selection_in_its_own_order_and_sees_every_value() -> None:
    rng = np.random.default_rng(4)
    features = rng.random((1_000, 6), dtype=np.float32)
    selected = features[:, [4, 1, 2]]  # comes back in Fortran order; hashed without a copy
    assert selected.flags.f_contiguous
    times, edges = np.arange(1_000, dtype=np.int64), np.array([0, 500, 1_000])
    first = digest("r", selected, times, edges)
    assert digest("r", features[:, [4, 1, 2]], times, edges) == first
    changed = selected.copy(order="F")
    changed[700, 2] += 1
    assert digest("r", changed, times, edges) != first
    assert digest("r", np.ascontiguousarray(selected), times, edges) != first  # another layout: a miss, not a mix
    assert digest("r", selected[:, :2], times, edges) != first
