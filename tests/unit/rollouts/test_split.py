"""The traffic split: deterministic, honours its weights, monotone across stages, inside the shadow sample."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from scorers.rollouts.split import CANDIDATE, CHAMPION, TrafficSplit
from shadow.sampling import EntitySampler

ids = st.lists(st.text(min_size=1, max_size=24), min_size=1, max_size=200, unique=True)
fractions = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@settings(max_examples=40, deadline=None)
@given(fraction=st.floats(min_value=0.01, max_value=0.99), salt=st.text(max_size=8), seed=st.integers(0, 10**6))
def test_the_candidates_share_is_binomial_around_the_weight(fraction: float, salt: str, seed: int) -> None:
    n = 4000
    counts = TrafficSplit(fraction, salt).counts(f"entity-{seed}-{i}" for i in range(n))
    # Two-sided binomial test at 1e-4: across 40 examples a false failure has probability < 0.4%.
    assert stats.binomtest(counts[CANDIDATE], n, fraction).pvalue > 1e-4
    assert counts[CANDIDATE] + counts[CHAMPION] == n


def test_a_five_stage_split_passes_a_chi_square_of_its_weights() -> None:
    for percent in (1, 5, 25, 50):
        counts = TrafficSplit(percent / 100).counts(f"card-{i:06d}" for i in range(20_000))
        expected = [20_000 * percent / 100, 20_000 * (1 - percent / 100)]
        assert stats.chisquare([counts[CANDIDATE], counts[CHAMPION]], expected).pvalue > 1e-4


@given(entities=ids, low=fractions, high=fractions, salt=st.text(max_size=8))
def test_stages_are_monotone(entities: list[str], low: float, high: float, salt: str) -> None:
    low, high = sorted((low, high))
    small, large = TrafficSplit(low, salt), TrafficSplit(high, salt)
    for entity in entities:
        if small.serves_candidate(entity):
            assert large.serves_candidate(entity)


@given(entities=ids, fraction=fractions)
def test_the_ends_serve_nobody_and_everybody(entities: list[str], fraction: float) -> None:
    assert not any(TrafficSplit(0.0).serves_candidate(e) for e in entities)
    assert all(TrafficSplit(1.0).serves_candidate(e) for e in entities)


@given(entities=ids, fraction=st.floats(min_value=0.0, max_value=0.5), shadow=st.floats(min_value=0.5, max_value=1.0))
def test_the_canary_lies_inside_the_shadow_sample_with_the_tees_salt(
    entities: list[str], fraction: float, shadow: float
) -> None:
    sampler = EntitySampler(shadow)
    for entity in entities:
        if TrafficSplit(fraction).serves_candidate(entity):
            assert sampler.keeps(entity.encode())


def test_assignments_are_the_same_in_another_process() -> None:
    """Stable across restarts: Python's own hash is salted per process, ours must not be."""
    entities = [f"card-{i:06d}" for i in range(300)]
    here = "".join("1" if TrafficSplit(0.25, "s").serves_candidate(e) else "0" for e in entities)
    code = (
        "from scorers.rollouts.split import TrafficSplit;"
        "print(''.join('1' if TrafficSplit(0.25, 's').serves_candidate(f'card-{i:06d}') else '0' "
        "for i in range(300)))"
    )
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert there == here
    assert 0 < here.count("1") < 300


def test_a_split_refuses_a_fraction_outside_0_1() -> None:
    with pytest.raises(ValueError, match="within"):
        TrafficSplit(1.5)
