"""Model performance once labels arrive, per event-time window, and concept drift as its decay.

A ``Performance`` summary is bounded: score histograms per class on a fine logit grid (AUC from them, ties
within a bin counted half, as Mann-Whitney does) and running sums of per-event log loss and Brier score.
``PerformanceMonitor`` windows labelled predictions by their EVENT time and closes a window once the label
watermark (largest label time seen, minus the label horizon) passes its end, so a window is judged when its
late labels are in. Concept drift: the window's mean log loss against a rolling baseline by a one-sided Welch
test on the summaries (``ttest_ind_from_stats``); each window is one test at ``alpha`` (docs/statistics.md).
The baseline pools the last ``baseline_windows`` windows that were tested and did not alarm, and no window is
tested before ``min_baseline_windows`` are pooled: a baseline fixed at the first window made every later test
share its luck (one low-loss first window gave days of alarms), while a pooled one makes two tests' statistics
correlate by at most about 1 / (1 + pooled windows).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import ttest_ind_from_stats

from streams.windows import PaneStore, Watermark, WindowSpec

LOGIT_GRID = np.linspace(-14.0, 14.0, 561)  # 0.05 wide in logit: a tie within a bin moves AUC negligibly
EPS = 1e-6  # scores are clipped to [EPS, 1 - EPS] before log loss: one confident miss cannot dominate


def log_loss(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    s = np.clip(np.asarray(scores, dtype=np.float64), EPS, 1.0 - EPS)
    y = np.asarray(labels, dtype=np.float64)
    return np.asarray(-(y * np.log(s) + (1.0 - y) * np.log1p(-s)))


def brier(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return np.asarray(np.square(np.asarray(scores, dtype=np.float64) - np.asarray(labels, dtype=np.float64)))


LOSSES = {"log_loss": log_loss, "brier": brier}


@dataclass(frozen=True)
class Metrics:
    n: int
    positive_rate: float
    log_loss: float
    log_loss_std: float
    brier: float
    auc: float | None  # None when one class is absent


@dataclass
class Performance:
    positives: np.ndarray = field(default_factory=lambda: np.zeros(len(LOGIT_GRID) + 1, dtype=np.int64))
    negatives: np.ndarray = field(default_factory=lambda: np.zeros(len(LOGIT_GRID) + 1, dtype=np.int64))
    sums: np.ndarray = field(default_factory=lambda: np.zeros(4))  # log loss, its square, Brier, its square
    events: int = 0
    offsets: dict[int, int] = field(default_factory=dict)

    def add(self, scores: np.ndarray, labels: np.ndarray) -> None:
        scores = np.clip(np.asarray(scores, dtype=np.float64), EPS, 1.0 - EPS)
        labels = np.asarray(labels) > 0
        slots = np.searchsorted(LOGIT_GRID, np.log(scores) - np.log1p(-scores))
        self.positives += np.bincount(slots[labels], minlength=len(self.positives))
        self.negatives += np.bincount(slots[~labels], minlength=len(self.negatives))
        ll, bs = log_loss(scores, labels), brier(scores, labels)
        self.sums += (ll.sum(), np.square(ll).sum(), bs.sum(), np.square(bs).sum())
        self.events += len(scores)

    def merge(self, other: Performance) -> None:
        self.positives += other.positives
        self.negatives += other.negatives
        self.sums += other.sums
        self.events += other.events
        for partition, offset in other.offsets.items():
            self.offsets[partition] = min(self.offsets.get(partition, offset), offset)

    def to_json(self) -> dict[str, Any]:
        """Sparse: a window's scores fill few of the grid's bins."""
        return {
            "pos": {str(i): int(c) for i, c in enumerate(self.positives) if c},
            "neg": {str(i): int(c) for i, c in enumerate(self.negatives) if c},
            "sums": self.sums.tolist(),
            "events": self.events,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Performance:
        summary = cls(sums=np.asarray(data["sums"], dtype=np.float64), events=int(data["events"]))
        for target, counts in ((summary.positives, data["pos"]), (summary.negatives, data["neg"])):
            for i, c in counts.items():
                target[int(i)] = c
        return summary

    def metrics(self) -> Metrics:
        n = max(self.events, 1)
        mean = self.sums[0] / n
        variance = max(self.sums[1] / n - mean * mean, 0.0) * n / max(n - 1, 1)
        return Metrics(
            self.events,
            float(self.positives.sum() / n),
            float(mean),
            float(np.sqrt(variance)),
            float(self.sums[2] / n),
            auc(self.positives, self.negatives),
        )


def auc(positives: np.ndarray, negatives: np.ndarray) -> float | None:
    """P(score of a positive > score of a negative) from per-bin counts, ties (same bin) counted half."""
    p, q = positives.astype(np.float64), negatives.astype(np.float64)
    if p.sum() == 0 or q.sum() == 0:
        return None
    below = np.cumsum(q) - q  # negatives in lower bins
    return float(np.sum(p * (below + 0.5 * q)) / (p.sum() * q.sum()))


@dataclass(frozen=True)
class ConceptPolicy:
    alpha: float = 0.05  # false-alarm probability of one window
    min_labels: int = 500  # windows with fewer labelled events are reported, not tested
    min_degradation: float = 0.0  # relative log-loss increase a significant window needs to alarm
    baseline_windows: int = 24  # the rolling baseline pools this many recent quiet windows (a day of hours)
    min_baseline_windows: int = 4  # windows pooled before the first test


@dataclass(frozen=True)
class PerformanceReport:
    start_ms: int
    end_ms: int
    metrics: Metrics
    baseline: Metrics | None
    p_value: float | None  # one-sided Welch: window log loss > baseline log loss
    alarm: bool

    @property
    def degradation(self) -> float | None:
        if self.baseline is None or self.baseline.log_loss <= 0:
            return None
        return self.metrics.log_loss / self.baseline.log_loss - 1.0


class PerformanceMonitor:
    """One model version's labelled predictions, windowed by event time, closed by the label watermark."""

    def __init__(
        self,
        spec: WindowSpec,
        policy: ConceptPolicy,
        emitted_through_ms: int | None = None,
        watermark: Watermark | None = None,
    ) -> None:
        """``spec.lateness_ms`` is the label horizon: how long after a window's end its labels may still come.
        ``watermark``: the labels' watermark, shared by every version's monitor (default: its own)."""
        self.spec = spec
        self.policy = policy
        self.store = PaneStore(spec, Performance, emitted_through_ms, watermark=watermark)
        self.recent: deque[Performance] = deque(maxlen=policy.baseline_windows)  # the rolling baseline's windows
        self.late = 0

    @property
    def baseline(self) -> Metrics | None:
        """The pooled recent quiet windows, once there are enough of them."""
        if len(self.recent) < self.policy.min_baseline_windows:
            return None
        pooled = Performance()
        for window in self.recent:
            pooled.merge(window)
        return pooled.metrics()

    def state(self) -> dict[str, Any]:
        return {
            "store": self.store.state(Performance.to_json),
            "late": self.late,
            "recent": [w.to_json() for w in self.recent],
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.store.restore(state["store"], Performance.from_json)
        self.late = int(state["late"])
        # A checkpoint from before the rolling baseline held one fixed window's metrics: the baseline restarts.
        self.recent.clear()
        self.recent.extend(Performance.from_json(w) for w in state.get("recent", []))

    def add(self, scores: np.ndarray, labels: np.ndarray, event_times_ms: np.ndarray) -> None:
        panes = self.spec.pane_of(event_times_ms)
        on_time = self.store.on_time(panes)
        self.late += int(len(panes) - on_time.sum())
        for pane in np.unique(panes[on_time]):
            selected = on_time & (panes == pane)
            self.store.pane(int(pane)).add(scores[selected], labels[selected])

    def advance(self, label_times_ms: np.ndarray, partitions: np.ndarray | None = None) -> list[PerformanceReport]:
        """Move the label watermark (per labels partition) and report the windows it closed."""
        self.store.watermark.advance(np.asarray(label_times_ms, dtype=np.int64), partitions)
        return [self._report(w, s) for w, s in self.store.close()]

    def idle(self, partition: int) -> list[PerformanceReport]:
        self.store.watermark.mark_idle(partition)
        return self.close()

    def close(self) -> list[PerformanceReport]:
        """Report the windows the (possibly shared) watermark has closed."""
        return [self._report(w, s) for w, s in self.store.close()]

    def close_all(self) -> list[PerformanceReport]:
        return [self._report(w, s) for w, s in self.store.close_all()]

    def _report(self, window: int, summary: Performance) -> PerformanceReport:
        start, end = self.spec.bounds(window)
        metrics = summary.metrics()
        base = self.baseline
        if metrics.n < self.policy.min_labels:
            return PerformanceReport(start, end, metrics, base, None, False)
        if base is None:
            self.recent.append(summary)
            return PerformanceReport(start, end, metrics, None, None, False)
        test = ttest_ind_from_stats(
            metrics.log_loss,
            metrics.log_loss_std,
            metrics.n,
            base.log_loss,
            base.log_loss_std,
            base.n,
            equal_var=False,
            alternative="greater",
        )
        p_value = float(test.pvalue)
        report = PerformanceReport(start, end, metrics, base, p_value, False)
        degraded = (report.degradation or 0.0) >= self.policy.min_degradation
        alarm = p_value <= self.policy.alpha and degraded
        if not alarm:  # a decayed window never becomes the standard later windows are held to
            self.recent.append(summary)
        return PerformanceReport(start, end, metrics, base, p_value, alarm)
