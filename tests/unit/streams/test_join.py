"""The horizon join: every event handed out once, at its horizon, in event-time order, with its label or the
default class, whatever the arrival order; late records, orphans, the memory bound and restarts."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.join import HorizonSettings, Joined, LabelJoin

CHAMPION, CHALLENGER = 1, 2
P, S, L = ("predictions", 0), ("shadow-predictions", 0), ("labels", 0)
HORIZON = 1_000


def join_of(max_pending: int = 10**6, label_lateness: int = 0, prediction_lateness: int = 0) -> LabelJoin:
    return LabelJoin(HorizonSettings(HORIZON, max_pending, 0, label_lateness, prediction_lateness))


def prediction(join: LabelJoin, event: str, version: int, score: float, time: int, offset: int = 0) -> None:
    champion = version == CHAMPION
    join.predictions([P if champion else S], [offset], [event], [version], [score], [time], champion)


def label(join: LabelJoin, event: str, value: int, time: int, offset: int = 0) -> None:
    join.labels([L], [offset], [event], [value], [time])


def merged(parts: list[Joined]) -> tuple[dict[int, list[tuple[float, int, int]]], list[tuple[float, float, int]]]:
    versions: dict[int, list[tuple[float, int, int]]] = {}
    pairs: list[tuple[float, float, int]] = []
    for part in parts:
        for version, (scores, labels, times) in part.versions.items():
            versions.setdefault(version, []).extend(zip(scores, labels, times, strict=True))
        for (a, b), (sa, sb, labels, _) in part.pairs.items():
            assert (a, b) == (CHAMPION, CHALLENGER)
            pairs.extend(zip(sa, sb, labels, strict=True))
    return versions, pairs


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 10**6), events=st.integers(1, 30), redeliver=st.booleans())
def test_each_event_is_handed_out_once_at_its_horizon_in_event_time_order(
    seed: int, events: int, redeliver: bool
) -> None:
    rng = random.Random(seed)
    delays = [rng.choice([10, 500, 999, 1_000, 1_001, 5_000, None]) for _ in range(events)]
    records: list[tuple[str, str, int, float, int]] = []
    for i in range(events):
        records += [("p", f"e{i}", CHAMPION, i / 100, 10 * i), ("p", f"e{i}", CHALLENGER, i / 100 + 0.5, 10 * i)]
        if delays[i] is not None:
            records.append(("l", f"e{i}", 1, 0.0, 10 * i + delays[i]))  # type: ignore[operator]
    if redeliver:
        records += rng.sample(records, k=min(len(records), 5))
    rng.shuffle(records)
    join = join_of(label_lateness=10**6, prediction_lateness=10**6)  # any order: nothing is late
    for kind, event, version, score, time in records:
        if kind == "p":
            prediction(join, event, version, score, time)
        else:
            label(join, event, version, time)
    assert merged([join.close()]) == ({}, [])  # the watermarks hold everything back
    join.idle("labels", 0)
    for kind, partition in (P, S):
        join.idle(kind, partition)
    label(join, "clock", 0, 10**9)  # stream time passes every horizon
    prediction(join, "clock", CHAMPION, 0.0, 10**9)
    versions, pairs = merged([join.close(), join.close()])
    expected = [1 if d is not None and d <= HORIZON else 0 for d in delays]  # late labels: the default class
    assert versions[CHAMPION] == [(i / 100, expected[i], 10 * i) for i in range(events)]  # event-time order
    assert versions[CHALLENGER] == [(i / 100 + 0.5, expected[i], 10 * i) for i in range(events)]
    assert pairs == [(i / 100, i / 100 + 0.5, expected[i]) for i in range(events)]
    assert join.counts.labelled == sum(expected)
    assert join.counts.labels_after_horizon == sum(d is not None and d > HORIZON for d in delays)


def test_an_event_closes_only_when_both_watermarks_have_passed_it() -> None:
    join = join_of()
    join.expect([L, P])
    prediction(join, "a", CHAMPION, 0.1, 0)
    label(join, "a", 1, 50)
    label(join, "b", 0, 5_000)  # labels far ahead; the predictions' watermark is still at 0
    assert join.close().versions == {CHAMPION: ([0.1], [1], [0])}
    prediction(join, "c", CHAMPION, 0.2, 10)
    label(join, "c", 1, 1_011)  # after c's horizon (10 + 1000): c takes the default class
    prediction(join, "d", CHAMPION, 0.3, 4_500)
    assert merged([join.close()])[0] == {CHAMPION: [(0.2, 0, 10)]}  # d waits until labels pass 5500
    assert set(join.pending) == {"b", "d"}


def test_records_of_a_closed_event_are_late_and_counted() -> None:
    join = join_of()
    prediction(join, "a", CHAMPION, 0.1, 0)
    label(join, "x", 0, 2_000)
    prediction(join, "x", CHAMPION, 0.2, 1_500)
    assert merged([join.close()])[0] == {CHAMPION: [(0.1, 0, 0)]}
    prediction(join, "a", CHALLENGER, 0.3, 0)  # the shadow scorer lagged past the horizon
    prediction(join, "late", CHAMPION, 0.3, 400)
    assert join.counts.late_predictions == 2
    assert "late" not in join.pending
    assert merged([join.close()]) == ({}, [])


def test_a_label_whose_event_never_comes_expires_and_is_counted() -> None:
    join = join_of()
    label(join, "orphan", 1, 100)
    prediction(join, "a", CHAMPION, 0.1, 50)
    label(join, "clock", 0, 5_000)
    prediction(join, "clock", CHAMPION, 0.0, 4_000)
    join.close()
    assert "orphan" not in join.pending
    assert join.counts.expired_label_only == 1


def test_beyond_max_pending_the_join_keeps_a_hash_sample_of_events() -> None:
    join = join_of(max_pending=100)
    for i in range(1_000):
        prediction(join, f"e{i}", CHAMPION, 0.1, i)
    assert len(join.pending) <= 100
    assert join.keep < 1
    assert join.counts.sampled_out == 1_000 - len(join.pending)
    again = join_of(max_pending=100)
    for i in range(1_000):
        prediction(again, f"e{i}", CHAMPION, 0.1, i)
    assert set(again.pending) == set(join.pending)  # deterministic: the same events in a replay


def test_a_restart_from_low_water_counts_every_event_exactly_once() -> None:
    def feed(join: LabelJoin, start: int, stop: int) -> Joined:
        for i in range(start, stop):
            prediction(join, f"e{i}", CHAMPION, i / 100, 100 * i, offset=i)
            prediction(join, f"e{i}", CHALLENGER, i / 100, 100 * i, offset=i)
            label(join, f"e{i}", i % 2, 100 * i + 600, offset=i)
        return join.close()

    first = join_of()
    before = feed(first, 0, 30)  # labels at 3500: events up to 2500 closed
    low = first.low_water()
    assert low == {P: 26, S: 26, L: 26}
    restarted = join_of()
    restarted.restore(first.state())
    again = feed(restarted, low[P], 30)  # the re-read: nothing new closes
    after = feed(restarted, 30, 40)
    counted = merged([before, again, after])[1]
    assert counted == merged([feed(join_of(), 0, 40)])[1]


def test_records_re_read_after_a_restart_rebuild_waiting_events_even_behind_the_restored_watermarks() -> None:
    """Before the restart every prediction was read (its watermark is at the end) and labels were behind."""
    first = join_of()
    for i in range(10):
        prediction(first, f"e{i}", CHAMPION, 0.1, 100 * i, offset=i)
        prediction(first, f"e{i}", CHALLENGER, 0.2, 100 * i, offset=i)
    label(first, "e0", 1, 1_050)
    assert merged([first.close()])[0] == {CHAMPION: [(0.1, 0, 0)], CHALLENGER: [(0.2, 0, 0)]}  # e0: label late
    restarted = join_of()
    restarted.restore(first.state())
    label(restarted, "x", 0, 10_000)  # labels move on at once; the re-read of the predictions comes after
    for i in range(10):  # re-read (not fresh): e0 had closed, e1..e9 were waiting
        for version, score in ((CHAMPION, 0.1), (CHALLENGER, 0.2)):
            restarted.predictions([P if version == CHAMPION else S], [i], [f"e{i}"], [version], [score], [100 * i],
                                  version == CHAMPION, [False])  # fmt: skip
    assert restarted.counts.late_predictions == 2
    prediction(restarted, "late", CHAMPION, 0.3, 50)  # a fresh record behind the watermark is late
    assert restarted.counts.late_predictions == 3
    _, pairs = merged([restarted.close()])
    assert pairs == [(0.1, 0.2, 0)] * 9
