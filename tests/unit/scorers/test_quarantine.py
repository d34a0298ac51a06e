"""Bad versions at run time and at start: fallback, quarantine and refusal, with real onnxruntime models.

The registry is the in-memory double of the hot reload tests; what a quarantine writes to Cassandra and Kafka
is covered by tests/integration/pipeline/test_bad_models.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest

from schemas.features import FeatureSpec
from scorers.errors import RegistryError
from scorers.hot_reload import AliasWatcher
from scorers.quarantine import Quarantined, VersionGuard
from scorers.runtime import probe_batch
from tests.unit.scorers import onnx_builders as build
from tests.unit.scorers.test_hot_reload import MemoryRegistry, watcher, weights


class Notices:
    def __init__(self) -> None:
        self.seen: list[Quarantined] = []

    def quarantined(self, event: Quarantined) -> None:
        self.seen.append(event)


@pytest.fixture
def registry(spec: FeatureSpec) -> MemoryRegistry:
    reg = MemoryRegistry(spec)
    reg.add(1, build.logistic(weights(0.01)))
    reg.add(2, build.logistic(weights(-0.01)))
    reg.add(3, build.amount_bucket_trap(limit=10_000.0))  # passes every probe, fails on large amounts
    reg.add(4, b"not an onnx model")
    return reg


def batch(spec: FeatureSpec, rows: int, amount: float | None = None) -> np.ndarray:
    x = probe_batch(spec, rows=rows, seed=11)
    if amount is not None:
        x[rows // 2, 0] = amount
    return x


Start = Callable[..., AliasWatcher]


@pytest.fixture
def start(registry: MemoryRegistry) -> Iterator[Start]:
    """Starts watchers on the registry double (``start()`` with its fallback); stops them all afterwards."""
    started: list[AliasWatcher] = []

    def run(reg: MemoryRegistry = registry, aliases: tuple[str, ...] = ("champion",)) -> AliasWatcher:
        w = watcher(reg, aliases)
        w.start()
        started.append(w)
        return w

    yield run
    for w in started:
        w.stop()


def test_version_failing_live_is_quarantined_and_the_batch_rescored_by_the_last_that_worked(
    registry: MemoryRegistry, spec: FeatureSpec, start: Start
) -> None:
    registry.promote(1, 2)
    w = start()
    notices = Notices()
    guard = VersionGuard(w, "champion", notices)
    normal = batch(spec, 50)
    scores, used = guard.score(lambda ms: {m.version: m.predict_unchecked(normal) for m in ms})
    assert [m.version for m in used] == [2]

    registry.promote(3)
    assert w.refresh() is True
    assert guard.score(lambda ms: [m.version for m in ms])[0] == [3]  # v3 scores normal batches fine

    poisoned = batch(spec, 50, amount=25_000.0)
    scores, used = guard.score(lambda ms: {m.version: m.predict_unchecked(poisoned) for m in ms})
    assert [m.version for m in used] == [2]  # the last version that worked
    assert set(scores) == {2}
    np.testing.assert_array_equal(scores[2], w.current().champion.predict(poisoned))
    assert [(n.version, n.fallback, n.alias) for n in notices.seen] == [(3, 2, "champion")]
    assert "Gather" in notices.seen[0].reason
    assert guard.quarantined == [3]

    # The alias still names v3 (the registry is the notice's business): the watcher never serves it again.
    assert w.refresh() is False
    assert w.current().champion.version == 2
    registry.promote(1)
    assert w.refresh() is True
    assert w.current().champion.version == 1


def test_a_fresh_worker_falls_back_through_the_alias_history(
    registry: MemoryRegistry, spec: FeatureSpec, start: Start
) -> None:
    registry.promote(1, 4, 3)  # v4 never verified; v3 is the champion when the worker starts
    w = start()
    assert w.refusals == []
    notices = Notices()
    guard = VersionGuard(w, "champion", notices)
    poisoned = batch(spec, 7, amount=25_000.0)
    _, used = guard.score(lambda ms: [m.predict_unchecked(poisoned) for m in ms])
    assert [m.version for m in used] == [1]  # v4 fails verification on the way and is skipped
    assert [(n.version, n.fallback) for n in notices.seen] == [(3, 1)]


def test_rows_no_version_can_score_are_isolated_and_nothing_is_quarantined(
    registry: MemoryRegistry, spec: FeatureSpec, start: Start
) -> None:
    registry.add(5, build.amount_bucket_trap(limit=20_000.0))
    registry.promote(5, 3)
    w = start()
    notices = Notices()
    guard = VersionGuard(w, "champion", notices)
    poisoned = batch(spec, 9, amount=25_000.0)  # row 4 breaks v3 and v5 alike: blame the row, not the version
    scores, used = guard.score(lambda ms: [m.predict_unchecked(poisoned) for m in ms])
    assert [m.version for m in used] == [3]
    assert np.isnan(scores[0][4])  # the scoring core dead-letters it
    expected = w.current().champion.predict(np.delete(poisoned, 4, axis=0))
    np.testing.assert_array_equal(np.delete(scores[0], 4), expected)
    assert notices.seen == []
    assert w.current().champion.version == 3

    # Nothing to fall back to, and a batch of the bad row alone: still that row's problem only.
    lone = VersionGuard(start(MemoryRegistry.only(registry, 3)), "champion", notices)
    scores, used = lone.score(lambda ms: [m.predict_unchecked(poisoned[4:5]) for m in ms])
    assert [m.version for m in used] == [3]
    assert np.isnan(scores[0]).all()
    assert notices.seen == []


def test_a_version_scoring_no_row_finitely_fails_the_batch(spec: FeatureSpec, start: Start) -> None:
    registry = MemoryRegistry(spec)
    registry.add(1, build.logistic(weights(0.01)))
    registry.add(2, build.sqrt_first_feature())  # NaN for a negative first feature
    registry.promote(1, 2)
    w = start(registry)
    notices = Notices()
    guard = VersionGuard(w, "champion", notices)
    one_bad_row = batch(spec, 5)
    one_bad_row[2, 0] = -1.0
    scores, used = guard.score(lambda ms: [m.predict_unchecked(one_bad_row) for m in ms])
    assert [m.version for m in used] == [2]  # one NaN row is that row's dead letter, not a version failure
    assert np.isnan(scores[0][2])
    all_bad = batch(spec, 5)
    all_bad[:, 0] = -1.0
    _, used = guard.score(lambda ms: [m.predict_unchecked(all_bad) for m in ms])
    assert [m.version for m in used] == [1]
    assert "no finite score for any of the batch's 5 rows" in notices.seen[0].reason


def test_a_failing_challenger_is_left_out_and_the_others_kept(
    registry: MemoryRegistry, spec: FeatureSpec, start: Start
) -> None:
    registry.alias_map = {"champion": (1,), "challenger": (2, 3)}
    w = start(aliases=("challenger",))
    notices = Notices()
    guard = VersionGuard(w, "challenger", notices)
    poisoned = batch(spec, 20, amount=25_000.0)
    scores, used = guard.score(lambda ms: {m.version: m.predict_unchecked(poisoned) for m in ms})
    assert set(scores) == {2}
    assert [m.version for m in used] == [2]
    assert [(n.version, n.fallback, n.alias) for n in notices.seen] == [(3, None, "challenger")]
    assert w.refresh() is False  # the alias still holds v3; it stays out
    assert [m.version for m in w.current().get("challenger")] == [2]


def test_start_serves_the_newest_earlier_version_that_verifies_and_quarantines_the_champion(
    registry: MemoryRegistry, start: Start
) -> None:
    registry.add(5, build.logistic(), sha256="0" * 64)  # a tampered artifact: its checksum no longer matches
    registry.promote(1, 2, 4, 5)
    w = start()
    assert w.current().champion.version == 2  # v4 (not ONNX) is skipped too
    [refusal] = w.refusals
    assert (refusal.alias, refusal.version, refusal.serving, refusal.at) == ("champion", 5, 2, "start")
    assert "checksum mismatch" in refusal.reason
    notices = Notices()
    guard = VersionGuard(w, "champion", notices)  # says at once what start refused
    assert [(n.version, n.fallback, n.at) for n in notices.seen] == [(5, 2, "start")]
    assert guard.quarantined == [5]
    guard.score(lambda ms: [m.version for m in ms])
    assert len(notices.seen) == 1


def test_a_live_promotion_refused_at_verification_is_quarantined_once(registry: MemoryRegistry, start: Start) -> None:
    registry.promote(1)
    w = start()
    notices = Notices()
    guard = VersionGuard(w, "champion", notices)
    registry.promote(4)  # not an ONNX model
    for _ in range(3):
        assert w.refresh() is False
        assert guard.score(lambda ms: [m.version for m in ms])[0] == [1]
    assert [(n.version, n.fallback, n.at) for n in notices.seen] == [(4, 1, "load")]
    assert "not a loadable ONNX model" in notices.seen[0].reason


def test_start_refuses_in_one_line_when_no_version_can_serve(registry: MemoryRegistry) -> None:
    registry.add(5, build.logistic(), sha256="0" * 64)
    registry.promote(4, 5)
    with pytest.raises(RegistryError) as refused:
        watcher(registry).start()
    message = str(refused.value)
    assert message.startswith("fraud: no champion could be loaded (")
    assert "fraud@5 refused: checksum mismatch" in message
    assert "fraud@4 refused: not a loadable ONNX model" in message
    assert "\n" not in message
