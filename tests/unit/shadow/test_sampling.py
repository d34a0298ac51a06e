"""The tee's entity sampling: deterministic, stable across processes, and honouring its fraction."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shadow.sampling import EntitySampler, entity_point

N = 20_000


def entities(prefix: str, n: int = N) -> list[bytes]:
    return [f"{prefix}-card-{i}".encode() for i in range(n)]


@settings(max_examples=40, deadline=None)
@given(fraction=st.floats(0.0, 1.0), prefix=st.text(max_size=8), salt=st.text(max_size=8))
def test_the_kept_share_honours_the_fraction(fraction: float, prefix: str, salt: str) -> None:
    kept = sum(EntitySampler(fraction, salt).mask(entities(prefix)))
    # Each entity is kept independently with probability `fraction`: 5 binomial standard deviations.
    tolerance = 5 * math.sqrt(fraction * (1 - fraction) / N) + 1 / N
    assert abs(kept / N - fraction) <= tolerance


@settings(max_examples=40, deadline=None)
@given(fraction=st.floats(0.0, 1.0), ids=st.lists(st.binary(max_size=24), max_size=200), salt=st.text(max_size=8))
def test_an_entity_gets_the_same_decision_every_time(fraction: float, ids: list[bytes], salt: str) -> None:
    first = EntitySampler(fraction, salt).mask(ids)
    again = EntitySampler(fraction, salt).mask(list(reversed(ids)))  # another instance, another order
    assert first == list(reversed(again))
    assert first == [EntitySampler(fraction, salt).keeps(i) for i in ids]
    decided: dict[bytes, bool] = {}
    for entity, kept in zip(ids, first, strict=True):  # duplicates within a batch agree
        assert decided.setdefault(entity, kept) == kept


@settings(max_examples=40, deadline=None)
@given(a=st.floats(0.0, 1.0), b=st.floats(0.0, 1.0), salt=st.text(max_size=8))
def test_a_smaller_fraction_keeps_a_subset_of_a_larger_one(a: float, b: float, salt: str) -> None:
    low, high = sorted((a, b))
    ids = entities("nested", 2_000)
    small, large = EntitySampler(low, salt).mask(ids), EntitySampler(high, salt).mask(ids)
    assert all(big for kept, big in zip(small, large, strict=True) if kept)


def test_the_hash_is_fixed_across_processes_and_releases() -> None:
    # Python's hash() is salted per process; these values must never change, or a restarted tee would keep
    # other entities than before.
    assert entity_point(b"card-000001") == 0xD58D2C4825F19CDA
    assert entity_point(b"card-000002", b"x") == 0x889F443CE5714C49


def test_the_edges_keep_all_or_nothing_and_other_fractions_are_refused() -> None:
    ids = [*entities("edge", 1000), b""]
    assert all(EntitySampler(1.0).mask(ids))
    assert not any(EntitySampler(0.0).mask(ids))
    assert EntitySampler(0.5).mask([None]) == EntitySampler(0.5).mask([b""])  # a keyless message hashes as ""
    assert EntitySampler(0.3, "a").mask(ids) != EntitySampler(0.3, "b").mask(ids)  # a salt draws another sample
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="within"):
            EntitySampler(bad)
