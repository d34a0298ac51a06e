"""The label join: every combination handed out once, in any arrival order, with redeliveries and restarts."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.join import Joined, LabelJoin

CHAMPION, CHALLENGER = 1, 2
P, S, L = ("predictions", 0), ("shadow-predictions", 0), ("labels", 0)


def prediction(
    join: LabelJoin, event: str, version: int, score: float, time: int, offset: int = 0, fresh: bool = True
) -> Joined:
    champion = version == CHAMPION
    return join.predictions([P if champion else S], [offset], [event], [version], [score], [time], champion, [fresh])


def label(join: LabelJoin, event: str, value: int, time: int, offset: int = 0, fresh: bool = True) -> Joined:
    return join.labels([L], [offset], [event], [value], [time], [fresh])


def merged(parts: list[Joined]) -> tuple[dict[int, list[tuple[float, int]]], list[tuple[float, float, int]]]:
    versions: dict[int, list[tuple[float, int]]] = {}
    pairs: list[tuple[float, float, int]] = []
    for part in parts:
        for version, (scores, labels, _) in part.versions.items():
            versions.setdefault(version, []).extend(zip(scores, labels, strict=True))
        for (a, b), (sa, sb, labels, _) in part.pairs.items():
            assert (a, b) == (CHAMPION, CHALLENGER)
            pairs.extend(zip(sa, sb, labels, strict=True))
    return versions, pairs


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 10**6), events=st.integers(1, 30), redeliver=st.booleans())
def test_each_version_and_each_pair_is_joined_once_in_any_order(seed: int, events: int, redeliver: bool) -> None:
    rng = random.Random(seed)
    records = []
    for i in range(events):
        records += [("p", f"e{i}", CHAMPION, i / 100), ("p", f"e{i}", CHALLENGER, i / 100 + 0.5), ("l", f"e{i}", i % 2)]
    if redeliver:
        records += rng.sample(records, k=min(len(records), 5))
    rng.shuffle(records)
    join = LabelJoin(horizon_ms=10**9, max_pending=10**6)
    parts = []
    for record in records:
        if record[0] == "p":
            parts.append(prediction(join, record[1], record[2], record[3], 1_000))  # type: ignore[arg-type]
        else:
            parts.append(label(join, record[1], record[2], 2_000))  # type: ignore[arg-type]
    versions, pairs = merged(parts)
    assert sorted(versions[CHAMPION]) == sorted((i / 100, i % 2) for i in range(events))
    assert sorted(versions[CHALLENGER]) == sorted((i / 100 + 0.5, i % 2) for i in range(events))
    assert sorted(pairs) == sorted((i / 100, i / 100 + 0.5, i % 2) for i in range(events))
    if not redeliver:  # (a copy arriving after its event completed waits, alone, until the horizon)
        assert not join.pending  # everything complete, nothing left waiting


def test_predictions_without_labels_expire_after_the_horizon_and_are_counted() -> None:
    join = LabelJoin(horizon_ms=1_000, max_pending=100)
    prediction(join, "old", CHAMPION, 0.1, 0)
    prediction(join, "labelled-late", CHAMPION, 0.2, 100)
    label(join, "orphan", 1, 200)
    prediction(join, "new", CHAMPION, 0.3, 1_150)  # stream time 1150: "old" (0), "labelled-late" (100) expire
    assert set(join.pending) == {"orphan", "new"}
    assert join.counts.expired_unlabelled == 2
    late = label(join, "labelled-late", 0, 1_300)  # too late: its prediction has left
    assert late.versions == {}
    label(join, "x", 0, 5_000)
    assert join.counts.expired_label_only >= 2


def test_without_a_known_challenger_a_joined_event_waits_the_grace_for_one() -> None:
    join = LabelJoin(horizon_ms=10**9, max_pending=100, grace_ms=1_000)
    prediction(join, "e", CHAMPION, 0.1, 0)
    label(join, "e", 1, 100)
    late = prediction(join, "e", CHALLENGER, 0.3, 0)  # the shadow scorer lagged
    assert merged([late]) == ({CHALLENGER: [(0.3, 1)]}, [(0.1, 0.3, 1)])
    prediction(join, "f", CHAMPION, 0.1, 0)
    label(join, "f", 0, 200)
    label(join, "g", 0, 1_300)  # stream time passes f's grace: f leaves, counted complete
    assert "f" not in join.pending
    assert join.counts.completed == 2


def test_the_join_never_holds_more_than_max_pending() -> None:
    join = LabelJoin(horizon_ms=10**9, max_pending=10)
    for i in range(100):
        prediction(join, f"e{i}", CHAMPION, 0.1, i)
    assert len(join.pending) == 10
    assert join.counts.evicted == 90
    assert set(join.pending) == {f"e{i}" for i in range(90, 100)}


def test_records_reread_after_a_restart_do_not_count_twice() -> None:
    join = LabelJoin(horizon_ms=10**9, max_pending=100)
    # Before the checkpoint: both predictions and the label of e1 (counted then); e2 only has predictions.
    prediction(join, "e1", CHAMPION, 0.1, 0, fresh=False)
    prediction(join, "e1", CHALLENGER, 0.2, 0, fresh=False)
    prediction(join, "e2", CHAMPION, 0.3, 0, fresh=False)
    prediction(join, "e2", CHALLENGER, 0.4, 0, fresh=False)
    again = label(join, "e1", 1, 10, fresh=False)
    assert again.versions == {}
    assert again.pairs == {}
    new = label(join, "e2", 0, 10, fresh=True)  # after the checkpoint: counted now
    assert merged([new]) == ({CHAMPION: [(0.3, 0)], CHALLENGER: [(0.4, 0)]}, [(0.3, 0.4, 0)])


def test_low_water_is_the_oldest_offset_still_waiting_per_partition() -> None:
    join = LabelJoin(horizon_ms=10**9, max_pending=100)
    prediction(join, "a", CHAMPION, 0.1, 0, offset=10)
    prediction(join, "b", CHAMPION, 0.1, 0, offset=11)
    join.expect([CHALLENGER])
    prediction(join, "b", CHALLENGER, 0.2, 0, offset=20)
    label(join, "b", 0, 5, offset=3)  # b complete: leaves
    assert join.low_water() == {P: 10}
    prediction(join, "a", CHALLENGER, 0.2, 0, offset=21)
    label(join, "a", 1, 6, offset=4)
    assert join.low_water() == {}
