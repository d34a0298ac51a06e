"""Event-time windows built from panes: tumbling or sliding, closed by a watermark with allowed lateness.

Time is cut into panes of ``slide_ms``; a window is ``size_ms / slide_ms`` consecutive panes, so a sliding
window is the sum of its panes and every event is counted once, in one pane, whatever the overlap. A window is
named by its last pane ``k``: it covers ``[(k - panes + 1) * slide, (k + 1) * slide)``. The watermark follows
the slowest source partition (``Watermark``); a window closes once it reaches the window's end, and a pane is
dropped once the last window containing it has closed. Panes span the lateness plus the skew between
partitions; processors keep the skew small by pausing partitions that run ahead (watermark alignment), and
``max_panes`` is a hard cap beyond which the oldest windows are closed early, so state is bounded by the
window shape, never by the stream's length.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, Self, TypeVar

import numpy as np


@dataclass(frozen=True)
class WindowSpec:
    size_ms: int
    slide_ms: int
    lateness_ms: int = 0

    def __post_init__(self) -> None:
        if self.size_ms <= 0 or self.slide_ms <= 0 or self.lateness_ms < 0:
            raise ValueError("window size and slide must be positive and lateness non-negative")
        if self.size_ms % self.slide_ms:
            raise ValueError(f"window size {self.size_ms} ms must be a multiple of the slide {self.slide_ms} ms")

    @classmethod
    def tumbling(cls, size_ms: int, lateness_ms: int = 0) -> WindowSpec:
        return cls(size_ms, size_ms, lateness_ms)

    @property
    def panes(self) -> int:
        """Panes per window (1 for tumbling windows)."""
        return self.size_ms // self.slide_ms

    def pane_of(self, times_ms: np.ndarray) -> np.ndarray:
        return np.floor_divide(np.asarray(times_ms, dtype=np.int64), self.slide_ms)

    def bounds(self, window: int) -> tuple[int, int]:
        """[start, end) in epoch milliseconds of the window whose last pane is ``window``."""
        return (window - self.panes + 1) * self.slide_ms, (window + 1) * self.slide_ms

    def window_panes(self, window: int) -> range:
        return range(window - self.panes + 1, window + 1)

    def last_window_of(self, pane: int) -> int:
        """The last window a pane belongs to; once it has closed the pane is no longer needed."""
        return pane + self.panes - 1


class Watermark:
    """Event-time progress over partitions: the slowest active partition's largest time, minus the lateness.

    Each source partition advances on its own, so a consumer that reads one partition far ahead of another
    (catching up a backlog) does not make the other's events late. A partition that is caught up (end of
    partition) is idle and does not hold the watermark back until it delivers again; a partition that is
    ``expect``ed but has not delivered yet holds it back. The watermark never moves backwards.
    """

    def __init__(self, spec: WindowSpec) -> None:
        self.spec = spec
        self.latest: dict[int, int] = {}  # partition -> largest event time seen
        self.idle: set[int] = set()
        self.waiting: set[int] = set()  # expected partitions not heard from yet
        self.value_ms: int | None = None

    def expect(self, partitions: list[int]) -> None:
        self.waiting |= set(partitions) - set(self.latest) - self.idle

    def advance(self, times_ms: np.ndarray, partitions: np.ndarray | None = None) -> None:
        times = np.asarray(times_ms, dtype=np.int64)
        parts = np.zeros(len(times), dtype=np.int64) if partitions is None else np.asarray(partitions)
        for partition in np.unique(parts).tolist():
            latest = int(times[parts == partition].max())
            self.latest[partition] = max(self.latest.get(partition, latest), latest)
            self.idle.discard(partition)
            self.waiting.discard(partition)
        self._update()

    def mark_idle(self, partition: int) -> None:
        """The partition is caught up: stop waiting for it."""
        self.idle.add(partition)
        self.waiting.discard(partition)
        self._update()

    def _update(self) -> None:
        if self.waiting:
            return
        active = [t for p, t in self.latest.items() if p not in self.idle]
        if not active:  # every partition caught up: the newest time seen is as far as anything goes
            active = [max(self.latest.values())] if self.latest else []
        if active:
            value = min(active) - self.spec.lateness_ms
            self.value_ms = value if self.value_ms is None else max(self.value_ms, value)

    @property
    def max_time_ms(self) -> int | None:
        return max(self.latest.values()) if self.latest else None

    def closed_through(self) -> int | None:
        """The last window (by its last pane) that the watermark has closed; None before any event."""
        value = self.value_ms
        if value is None:
            return None
        # Window k closes when value >= (k + 1) * slide, i.e. k <= value // slide - 1.
        return value // self.spec.slide_ms - 1


P = TypeVar("P", bound="Pane")


class Pane(Protocol):
    """A mergeable summary of the events of one pane (streams.summary.Summary is one)."""

    events: int
    offsets: dict[int, int]

    def merge(self, other: Self) -> None: ...


class PaneStore(Generic[P]):
    """Open panes of one window shape, and the closing of windows as the watermark passes their end."""

    def __init__(
        self,
        spec: WindowSpec,
        new: Callable[[], P],
        emitted_through_ms: int | None = None,
        max_panes: int | None = None,
        watermark: Watermark | None = None,
    ) -> None:
        """``emitted_through_ms``: end of the last window already reported (after a restart); none is re-reported.
        ``watermark``: one shared with other stores that follow the same source (default: a store's own)."""
        self.spec = spec
        self.max_panes = max_panes or 4 * ((spec.size_ms + spec.lateness_ms) // spec.slide_ms + 2)
        self._new = new
        self.panes: dict[int, P] = {}
        self.watermark = watermark or Watermark(spec)
        self._closed: int | None = None if emitted_through_ms is None else emitted_through_ms // spec.slide_ms - 1
        # After a restart every open window is re-read whole, so no window counts as partial.
        self._first_pane: int | None = None if emitted_through_ms is None else -(2**62)

    @property
    def emitted_through_ms(self) -> int | None:
        """End of the last closed window: what a checkpoint keeps so a restart reports nothing twice."""
        return None if self._closed is None else (self._closed + 1) * self.spec.slide_ms

    def on_time(self, panes: np.ndarray) -> np.ndarray:
        """Which panes still belong to an open window (the others are late)."""
        if self._closed is None:
            on_time = np.ones(len(panes), dtype=bool)
        else:
            on_time = np.asarray(panes + self.spec.panes - 1 > self._closed)
        if on_time.any():
            # The stream's start is its earliest on-time pane, even when that event arrives out of order.
            earliest = int(panes[on_time].min())
            self._first_pane = earliest if self._first_pane is None else min(self._first_pane, earliest)
        return on_time

    def pane(self, index: int) -> P:
        found = self.panes.get(index)
        if found is None:
            found = self.panes[index] = self._new()
        return found

    def close(self) -> list[tuple[int, P]]:
        """Windows the watermark has closed since the last call, as (window, merged summary), oldest first."""
        through = self.watermark.closed_through()
        if len(self.panes) > self.max_panes:  # skew beyond the cap: close the oldest windows early
            excess = sorted(self.panes)[len(self.panes) - self.max_panes - 1]
            through = max(through if through is not None else excess, self.spec.last_window_of(excess))
        return self._close(through) if through is not None else []

    def close_all(self) -> list[tuple[int, P]]:
        """Close every window with data (end of a finite stream, e.g. a backtest)."""
        return self._close(max(self.panes) + self.spec.panes - 1) if self.panes else []

    def _close(self, through: int) -> list[tuple[int, P]]:
        if self._closed is not None and through <= self._closed:
            return []
        start = self._closed + 1 if self._closed is not None else None
        # Only windows that hold a pane can have data: never iterate over an empty gap in event time.
        windows = {k for p in self.panes for k in range(p, p + self.spec.panes) if k <= through}
        closed = []
        for window in sorted(k for k in windows if start is None or k >= start):
            if self._first_pane is not None and window - self.spec.panes + 1 < self._first_pane:
                continue  # a sliding window that starts before the stream did: partial, not reported
            total = self._new()
            for pane in self.spec.window_panes(window):
                if pane in self.panes:
                    total.merge(self.panes[pane])
            if total.events:
                closed.append((window, total))
        self._closed = through
        for pane in [p for p in self.panes if self.spec.last_window_of(p) <= through]:
            del self.panes[pane]
        return closed

    def state(self, encode: Callable[[P], Any]) -> dict[str, Any]:
        """Everything needed to continue exactly here (for checkpoints)."""
        return {
            "closed": self._closed,
            "first_pane": self._first_pane,
            "watermark": self.watermark.value_ms,
            "latest": {str(p): t for p, t in self.watermark.latest.items()},
            "panes": {str(p): encode(s) for p, s in self.panes.items()},
        }

    def restore(self, state: dict[str, Any], decode: Callable[[Any], P]) -> None:
        self._closed, self._first_pane = state["closed"], state["first_pane"]
        self.watermark.value_ms = state["watermark"]
        self.watermark.latest = {int(p): t for p, t in state["latest"].items()}
        self.panes = {int(p): decode(s) for p, s in state["panes"].items()}

    def commit_offsets(self) -> dict[int, int]:
        """Per partition, the lowest offset still needed by an open window: what a restart must re-read."""
        lowest: dict[int, int] = {}
        for summary in self.panes.values():
            for partition, offset in summary.offsets.items():
                lowest[partition] = min(lowest.get(partition, offset), offset)
        return lowest
