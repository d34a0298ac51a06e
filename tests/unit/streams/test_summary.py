"""Window summaries: slots follow the reference bins, summaries add up, and their size never grows."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from schemas.features import Feature, FeatureSpec
from scorers.profile import CategoricalProfile, NumericProfile, ReferenceProfile
from streams.summary import Layout

SPEC = FeatureSpec(
    "toy",
    (
        Feature("x", "numeric", "double"),
        Feature("flag", "numeric", "boolean"),
        Feature("colour", "categorical", "enum", ("red", "green", "blue")),
    ),
)
PROFILE = ReferenceProfile(
    n_rows=100,
    numeric={
        "x": NumericProfile((0.0, 1.0, 2.0, 4.0), (30, 30, 40), 2.0, 1.0, 0.0, 4.0, {}),
        "flag": NumericProfile((0.0, 1.0, 2.0), (70, 30), 0.3, 0.46, 0.0, 1.0, {}),
    },
    categorical={"colour": CategoricalProfile({"red": 50, "green": 30, "blue": 20})},
    score=None,
)
LAYOUT = Layout.of_features(SPEC, PROFILE)


def test_layout_uses_ks_for_continuous_columns_and_chi_square_for_per_value_bins_and_categories() -> None:
    assert [(c.name, c.test, c.slots) for c in LAYOUT.columns] == [
        ("x", "ks", 5),  # 3 bins + underflow + overflow
        ("flag", "chi2", 4),
        ("colour", "chi2", 3),
    ]
    assert LAYOUT.columns[0].reference.tolist() == [0, 30, 30, 40, 0]


def test_values_land_in_the_reference_bins_the_last_one_closed() -> None:
    summary = LAYOUT.summary()
    x = np.array([-1.0, 0.0, 0.99, 1.0, 3.0, 4.0, 4.5, np.nan])
    rows = np.column_stack([x, np.zeros(8), np.zeros(8)])
    rows[-1, 2] = 7  # an unknown category index: counted as invalid, not binned
    summary.add(LAYOUT, rows)
    x_col, _, colour = LAYOUT.columns
    assert summary.column_counts(x_col).tolist() == [1, 2, 1, 2, 1]
    assert summary.invalid.tolist() == [1, 0, 1]
    assert summary.column_counts(colour).tolist() == [7, 0, 0]
    assert summary.low[0] == -1.0
    assert summary.high[0] == 4.5


rows_strategy = arrays(
    np.float64,
    st.tuples(st.integers(0, 40), st.just(3)),
    elements=st.one_of(st.floats(-2, 6), st.sampled_from([0.0, 1.0, 2.0, 4.0])),
)


@settings(max_examples=50)
@given(a=rows_strategy, b=rows_strategy)
def test_summaries_are_additive(a: np.ndarray, b: np.ndarray) -> None:
    a[:, 2] = np.floor(np.abs(a[:, 2])) % 3
    b[:, 2] = np.floor(np.abs(b[:, 2])) % 3
    whole, left, right = LAYOUT.summary(), LAYOUT.summary(), LAYOUT.summary()
    whole.add(LAYOUT, np.vstack([a, b]))
    left.add(LAYOUT, a)
    right.add(LAYOUT, b)
    left.merge(right)
    assert left.counts.tolist() == whole.counts.tolist()
    assert np.allclose(left.sums, whole.sums)
    assert left.events == whole.events == len(a) + len(b)
    assert left.low.tolist() == whole.low.tolist()


def test_the_size_of_a_summary_does_not_depend_on_the_events_it_has_seen() -> None:
    small, large = LAYOUT.summary(), LAYOUT.summary()
    small.add(LAYOUT, np.zeros((10, 3)))
    rng = np.random.default_rng(0)
    for _ in range(50):
        rows = np.column_stack([rng.normal(2, 1, 10_000), rng.integers(0, 2, 10_000), rng.integers(0, 3, 10_000)])
        large.add(LAYOUT, rows)
    assert large.events == 500_000
    assert large.nbytes == small.nbytes


def _slot_of_each_value(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The bin rule value by value: below the first edge, [edges[i-1], edges[i]), above the last; last bin closed."""
    slots = np.searchsorted(edges, values, side="right")
    slots[values == edges[-1]] = len(edges) - 1
    return slots


@settings(max_examples=100)
@given(
    edges=st.lists(st.sampled_from([-1.0, 0.0, 0.5, 1.0, 2.0, 3.5]), min_size=2, max_size=6).map(sorted),
    values=arrays(np.float64, st.integers(0, 60), elements=st.sampled_from([-2.0, -1.0, 0.0, 0.25, 0.5, 1.0,
                                                                             1.5, 2.0, 3.5, 4.0, np.nan])),
)  # fmt: skip
def test_numeric_counts_follow_the_bin_rule_value_by_value(edges: list[float], values: np.ndarray) -> None:
    """Counting by placing the edges among the sorted values gives each slot what looking up every value
    among the edges gives, repeated edges and values on an edge included."""
    spec = FeatureSpec("one", (Feature("x", "numeric", "double"),))
    counts = (1,) * (len(edges) - 1)
    profile = ReferenceProfile(1, {"x": NumericProfile(tuple(edges), counts, 0.0, 1.0, edges[0], edges[-1], {})},
                               {}, None)  # fmt: skip
    layout = Layout.of_features(spec, profile)
    summary = layout.summary()
    summary.add(layout, values.reshape(-1, 1))
    finite = values[np.isfinite(values)]
    expected = np.bincount(_slot_of_each_value(np.asarray(edges), finite), minlength=len(edges) + 1)
    assert summary.counts.tolist() == expected.tolist()
    assert summary.invalid.tolist() == [len(values) - len(finite)]
