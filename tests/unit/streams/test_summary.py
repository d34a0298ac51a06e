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
