"""Data drift of one model version: live windows of its inputs (or scores) against its reference profile.

Pure logic, no I/O: ``DriftMonitor.add`` takes a batch of rows with their event times and returns the reports
of the windows that the batch's watermark closed. Within a window every column gets one gating test and the
columns' p-values go through Holm-Bonferroni, so a window raises a false alarm with probability at most
``alpha`` however many columns there are (docs/statistics.md). Events too late for any open window are counted
and reported with the next window, never silently lost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streams.drift_stats import ColumnResult, compare
from streams.multiple import holm
from streams.summary import Layout, Summary
from streams.windows import PaneStore, WindowSpec


@dataclass(frozen=True)
class DriftPolicy:
    alpha: float = 0.05  # family-wise false-alarm probability of one window
    min_events: int = 200  # smaller windows are reported but not tested
    min_psi: float = 0.0  # effect floor: a significant column alarms only if its PSI reaches this
    psi_moderate: float = 0.1  # conventional PSI bands, reported as severity (effect sizes, not tests)
    psi_major: float = 0.25

    def severity(self, psi: float) -> str:
        return "major" if psi >= self.psi_major else "moderate" if psi >= self.psi_moderate else "none"


@dataclass(frozen=True)
class WindowReport:
    start_ms: int
    end_ms: int
    events: int
    late_events: int  # events that arrived after every window they belonged to had closed, since the last report
    tested: bool
    columns: tuple[ColumnResult, ...] = ()
    adjusted_p: tuple[float, ...] = ()  # Holm-adjusted, per column
    flagged: tuple[bool, ...] = ()  # significant after Holm and at least min_psi

    @property
    def alarm(self) -> bool:
        return any(self.flagged)

    @property
    def flagged_columns(self) -> list[str]:
        return [c.name for c, f in zip(self.columns, self.flagged, strict=True) if f]


class DriftMonitor:
    """Windowed drift of the columns of ``layout``; bounded state (see streams.windows)."""

    def __init__(self, layout: Layout, spec: WindowSpec, policy: DriftPolicy, emitted_through_ms: int | None = None):
        """``emitted_through_ms``: end of the last window already reported (after a restart); none is re-reported."""
        self.layout = layout
        self.spec = spec
        self.policy = policy
        self.store = PaneStore(spec, layout.summary, emitted_through_ms)
        self._late = 0
        self.late_total = 0

    def add(
        self,
        rows: np.ndarray,
        times_ms: np.ndarray,
        partitions: np.ndarray | None = None,
        offsets: np.ndarray | None = None,
    ) -> list[WindowReport]:
        """Summarise a batch (rows in feature-spec order) and return the reports of windows it closed."""
        times = np.asarray(times_ms, dtype=np.int64)
        panes = self.spec.pane_of(times)
        on_time = self.store.on_time(panes)
        late = int(len(panes) - on_time.sum())
        self._late += late
        self.late_total += late
        for pane in np.unique(panes[on_time]):
            selected = on_time & (panes == pane)
            summary = self.store.pane(int(pane))
            summary.add(self.layout, rows[selected])
            if partitions is not None and offsets is not None:
                summary.note_offsets(partitions[selected], offsets[selected])
        self.store.watermark.advance(times, partitions)
        return [self._report(w, s) for w, s in self.store.close()]

    def idle(self, partition: int) -> list[WindowReport]:
        """A source partition is caught up: it no longer holds the watermark back."""
        self.store.watermark.mark_idle(partition)
        return [self._report(w, s) for w, s in self.store.close()]

    def close_all(self) -> list[WindowReport]:
        """Report every window with data (end of a finite stream, e.g. a backtest)."""
        return [self._report(w, s) for w, s in self.store.close_all()]

    def _report(self, window: int, summary: Summary) -> WindowReport:
        start, end = self.spec.bounds(window)
        late, self._late = self._late, 0
        if summary.events < self.policy.min_events:
            return WindowReport(start, end, summary.events, late, tested=False)
        results = tuple(compare(c, summary, j) for j, c in enumerate(self.layout.columns))
        rejected, adjusted = holm([r.p_value for r in results], self.policy.alpha)
        flagged = tuple(bool(rej) and r.psi >= self.policy.min_psi for rej, r in zip(rejected, results, strict=True))
        return WindowReport(start, end, summary.events, late, True, results, tuple(float(a) for a in adjusted), flagged)

    def commit_offsets(self) -> dict[int, int]:
        return self.store.commit_offsets()

    @property
    def open_panes(self) -> int:
        return len(self.store.panes)

    @property
    def state_nbytes(self) -> int:
        return sum(s.nbytes for s in self.store.panes.values())
