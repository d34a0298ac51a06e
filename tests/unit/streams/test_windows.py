"""Window arithmetic and pane bookkeeping: every event in exactly one pane, windows closed by the watermark."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.windows import PaneStore, WindowSpec


@dataclass
class Count:
    events: int = 0
    offsets: dict[int, int] = field(default_factory=dict)
    times: list[int] = field(default_factory=list)

    def merge(self, other: Count) -> None:
        self.events += other.events
        self.times += other.times


specs = st.builds(
    lambda slide, panes, lateness: WindowSpec(slide * panes, slide, lateness),
    st.integers(1, 50),
    st.integers(1, 5),
    st.integers(0, 100),
)


@given(spec=specs, t=st.integers(-(10**12), 10**12))
def test_an_event_belongs_to_exactly_the_windows_covering_its_time(spec: WindowSpec, t: int) -> None:
    pane = int(spec.pane_of(np.array([t]))[0])
    windows = [k for k in range(pane - spec.panes - 2, pane + spec.panes + 2) if pane in spec.window_panes(k)]
    assert len(windows) == spec.panes
    for k in windows:
        start, end = spec.bounds(k)
        assert start <= t < end
        assert end - start == spec.size_ms
    assert spec.last_window_of(pane) == max(windows)


def test_size_must_be_a_multiple_of_the_slide() -> None:
    with pytest.raises(ValueError, match="multiple"):
        WindowSpec(10, 3)


def feed(store: PaneStore[Count], times: list[int]) -> tuple[list[tuple[int, Count]], int]:
    array = np.array(times, dtype=np.int64)
    panes = store.spec.pane_of(array)
    on_time = store.on_time(panes)
    for t, p, ok in zip(times, panes.tolist(), on_time.tolist(), strict=True):
        if ok:
            pane = store.pane(p)
            pane.events += 1
            pane.times.append(t)
    store.watermark.advance(array)
    return store.close(), int(len(times) - on_time.sum())


@settings(max_examples=60, deadline=None)
@given(
    spec=specs,
    times=st.lists(st.integers(0, 5_000), min_size=1, max_size=200),
    batch=st.integers(1, 20),
)
def test_sliding_windows_hold_exactly_their_on_time_events_and_panes_stay_bounded(
    spec: WindowSpec, times: list[int], batch: int
) -> None:
    store: PaneStore[Count] = PaneStore(spec, Count)
    closed: list[tuple[int, Count]] = []
    late = 0
    bound = (spec.size_ms + spec.lateness_ms) // spec.slide_ms + 2
    for i in range(0, len(times), batch):
        done, dropped = feed(store, times[i : i + batch])
        closed += done
        late += dropped
        assert len(store.panes) <= bound
    closed += store.close_all()
    first_pane = min(times) // spec.slide_ms
    counted = set()
    for window, summary in closed:
        start, end = spec.bounds(window)
        assert all(start <= t < end for t in summary.times)
        assert window - spec.panes + 1 >= first_pane  # no partial leading window
        counted.update(summary.times)
    assert [w for w, _ in closed] == sorted({w for w, _ in closed})  # each window once, in order
    if spec.panes == 1:  # tumbling: every on-time event is in exactly one reported window
        assert sum(s.events for _, s in closed) == len(times) - late


def test_a_window_closes_when_the_watermark_passes_its_end_and_late_events_are_refused() -> None:
    store: PaneStore[Count] = PaneStore(WindowSpec.tumbling(100, lateness_ms=20), Count)
    assert feed(store, [5, 50, 110]) == ([], 0)  # watermark 90: [0, 100) still open
    closed, late = feed(store, [121])  # watermark 101
    assert [(w, s.times) for w, s in closed] == [(0, [5, 50])]
    assert late == 0
    closed, late = feed(store, [99, 130])  # 99 belongs to a closed window
    assert closed == []
    assert late == 1


def test_after_a_restart_reported_windows_are_not_reported_again() -> None:
    store: PaneStore[Count] = PaneStore(WindowSpec.tumbling(100), Count, emitted_through_ms=200)
    closed, late = feed(store, [150, 250, 350])
    assert late == 1  # 150 is in [100, 200), reported before the restart
    assert [w for w, _ in closed] == [2]
