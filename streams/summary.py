"""Bounded, mergeable window summaries: histograms on the reference profile's bins, quantile sketches, moments.

A ``Layout`` fixes, from a model version's reference profile, which slots of one flat count vector belong to
which column. Numeric columns get their reference bins plus an underflow and an overflow slot (live values
beyond the training range stay visible to KS); categorical columns get one slot per symbol. A ``Summary`` is
that count vector plus per-column sums of centred values and squares, extremes and a count of non-finite
values: its size depends on the layout alone, never on how many events it has seen, and two summaries add
up (panes of a sliding window are summed when the window closes). Continuous columns whose reference has a
quantile summary also get a KLL sketch of the window (streams.drift_quantiles: at most ~2,500 values, and
two sketches merge), on which KS and Wasserstein are computed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from datasketches import kll_doubles_sketch

from schemas.features import FeatureSpec
from scorers.profile import NumericProfile, ReferenceProfile
from streams.drift_quantiles import WeightedSample, window_sketch

# How a column is compared with its reference: KS on bins for continuous values (conservative under binning
# and ties), chi-square for per-value bins (booleans, small integer sets) and categories.
Test = Literal["ks", "chi2"]


@dataclass(frozen=True)
class Column:
    name: str
    kind: Literal["numeric", "categorical"]
    test: Test
    index: int  # column of the input matrix
    offset: int  # first slot in the flat count vector
    edges: np.ndarray  # numeric: the reference bin edges; categorical: empty
    reference: np.ndarray  # reference counts per slot (0 in a numeric column's under/overflow slots)
    ref_mean: float = 0.0
    ref_std: float = 1.0
    labels: tuple[str, ...] = ()  # categorical: the symbols, in index order
    quantiles: WeightedSample | None = None  # continuous numeric: the reference profile's quantile summary

    @property
    def slots(self) -> int:
        return len(self.reference)


def _numeric(name: str, index: int, offset: int, profile: NumericProfile) -> Column:
    edges = np.asarray(profile.edges, dtype=np.float64)
    reference = np.concatenate([[0], np.asarray(profile.counts, dtype=np.int64), [0]])
    # Per-value bins (see scorers.profile): those columns are categorical in effect.
    per_value = profile.per_value
    points = profile.quantile_points()
    n = int(sum(profile.counts))
    return Column(
        name,
        "numeric",
        "chi2" if per_value else "ks",
        index,
        offset,
        edges,
        reference,
        profile.mean,
        profile.std if profile.std > 0 else 1.0,
        quantiles=None if per_value or points is None else WeightedSample.of_points(points, n),
    )


@dataclass(frozen=True)
class Layout:
    columns: tuple[Column, ...]
    slots: int

    @classmethod
    def of_features(cls, spec: FeatureSpec, profile: ReferenceProfile, names: list[str] | None = None) -> Layout:
        """The spec's features that the profile describes (or only ``names``), in spec order."""
        columns: list[Column] = []
        offset = 0
        for index, feature in enumerate(spec.features):
            if names is not None and feature.name not in names:
                continue
            if feature.name in profile.numeric:
                column = _numeric(feature.name, index, offset, profile.numeric[feature.name])
            elif feature.name in profile.categorical:
                counts = profile.categorical[feature.name].counts
                reference = np.array([counts.get(c, 0) for c in feature.categories], dtype=np.int64)
                column = Column(
                    feature.name,
                    "categorical",
                    "chi2",
                    index,
                    offset,
                    np.empty(0),
                    reference,
                    labels=feature.categories,
                )
            else:
                continue
            columns.append(column)
            offset += column.slots
        return cls(tuple(columns), offset)

    @classmethod
    def of_score(cls, profile: NumericProfile, name: str = "score") -> Layout:
        column = _numeric(name, 0, 0, profile)
        return cls((column,), column.slots)

    def summary(self) -> Summary:
        width = len(self.columns)
        return Summary(
            counts=np.zeros(self.slots, dtype=np.int64),
            sums=np.zeros((width, 2), dtype=np.float64),
            low=np.full(width, np.inf),
            high=np.full(width, -np.inf),
            invalid=np.zeros(width, dtype=np.int64),
            sketches={j: window_sketch() for j, c in enumerate(self.columns) if c.quantiles is not None},
        )


@dataclass
class Summary:
    counts: np.ndarray  # per slot
    sums: np.ndarray  # per column: sum of (x - ref_mean) / ref_std and of its square (centred: no cancellation)
    low: np.ndarray  # per column minimum and maximum of finite values
    high: np.ndarray
    invalid: np.ndarray  # per column: non-finite or out-of-range values, counted, never binned
    events: int = 0
    offsets: dict[int, int] = field(default_factory=dict)  # Kafka partition -> lowest offset summarised
    sketches: dict[int, kll_doubles_sketch] = field(default_factory=dict)  # column -> window quantile sketch

    def add(self, layout: Layout, rows: np.ndarray) -> None:
        """Count ``rows`` (a (n, width) matrix in feature-spec order; categorical values are symbol indexes)."""
        self.events += len(rows)
        for j, column in enumerate(layout.columns):
            values = np.asarray(rows[:, column.index], dtype=np.float64)
            finite = np.isfinite(values)
            if column.kind == "categorical":
                finite &= (values >= 0) & (values < column.slots)
                counts = np.bincount(values[finite].astype(np.int64), minlength=column.slots)
            else:
                kept = values[finite]
                ordered = np.sort(kept)
                counts = _numeric_counts(column.edges, ordered)
                z = (kept - column.ref_mean) / column.ref_std
                self.sums[j] += (z.sum(), np.square(z).sum())
                if len(z):
                    self.low[j] = min(self.low[j], float(ordered[0]))
                    self.high[j] = max(self.high[j], float(ordered[-1]))
                    if j in self.sketches:
                        self.sketches[j].update(np.ascontiguousarray(kept))  # arrival order, as ever
            self.counts[column.offset : column.offset + column.slots] += counts
            self.invalid[j] += len(values) - int(counts.sum())

    def note_offsets(self, partitions: np.ndarray, offsets: np.ndarray) -> None:
        """Remember the lowest offset per partition summarised here (what a restart must re-read)."""
        for partition in np.unique(partitions):
            lowest = int(offsets[partitions == partition].min())
            key = int(partition)
            self.offsets[key] = min(self.offsets.get(key, lowest), lowest)

    def merge(self, other: Summary) -> None:
        self.counts += other.counts
        self.sums += other.sums
        np.minimum(self.low, other.low, out=self.low)
        np.maximum(self.high, other.high, out=self.high)
        self.invalid += other.invalid
        self.events += other.events
        for partition, offset in other.offsets.items():
            self.offsets[partition] = min(self.offsets.get(partition, offset), offset)
        for j, sketch in other.sketches.items():
            self.sketches[j].merge(sketch)

    def column_counts(self, column: Column) -> np.ndarray:
        return self.counts[column.offset : column.offset + column.slots]

    @property
    def nbytes(self) -> int:
        arrays = (self.counts, self.sums, self.low, self.high, self.invalid)
        sketches = 8 * sum(int(s.num_retained) for s in self.sketches.values())  # the values a sketch keeps
        return sum(a.nbytes for a in arrays) + 16 * len(self.offsets) + sketches


def _numeric_counts(edges: np.ndarray, ordered: np.ndarray) -> np.ndarray:
    """Values per slot of sorted finite ``ordered``: slot 0 below the first edge, i for [edges[i-1], edges[i]),
    B + 1 above the last; the last bin is closed. Found by placing the edges among the sorted values: a
    vectorised sort costs ~4 ns a value where looking each value up among the edges cost ~30 ns."""
    below = np.searchsorted(ordered, edges, side="left")  # values below each edge
    below[-1] = np.searchsorted(ordered, edges[-1], side="right")  # the last bin holds its upper edge
    return np.diff(below, prepend=0, append=len(ordered)).astype(np.int64)
