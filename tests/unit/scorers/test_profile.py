"""Reference profiles: quantile bins, moments, category frequencies, JSON round trip, reading reference files."""

from __future__ import annotations

import json
from pathlib import Path

import fastavro
import numpy as np
import pytest

from schemas.features import FeatureSpec, encode
from schemas.synthetic import TransactionGenerator
from scorers.profile import NumericProfile, ReferenceProfile, load_reference, reference_profile


def test_numeric_profile_uses_quantile_edges_and_counts_every_row() -> None:
    values = np.random.default_rng(1).normal(10.0, 2.0, 10_000)
    profile = NumericProfile.of(values, bins=10)
    assert len(profile.edges) == 11
    assert sum(profile.counts) == 10_000
    assert max(profile.counts) - min(profile.counts) <= 2  # deciles: equal mass per bin
    assert profile.mean == pytest.approx(values.mean())
    assert profile.std == pytest.approx(values.std(ddof=1))
    assert profile.quantiles["0.5"] == pytest.approx(np.median(values))


def test_continuous_columns_keep_their_quantiles_and_old_profiles_still_load() -> None:
    values = np.random.default_rng(2).lognormal(size=50_000)
    profile = NumericProfile.of(values)
    points = profile.quantile_points()
    assert points is not None
    assert len(points) == 2_048
    # Each point is the quantile at its mid-rank: the share of values at or below it is within 1/4096 of it.
    ranks = np.searchsorted(np.sort(values), points, side="right") / len(values)
    assert np.max(np.abs(ranks - (np.arange(2_048) + 0.5) / 2_048)) <= 1 / 4_096 + 1 / len(values)
    assert NumericProfile.from_json(json.loads(json.dumps(profile.to_json()))) == profile
    old = profile.to_json()
    del old["quantile_summary"]
    assert NumericProfile.from_json(old).quantile_points() is None
    assert NumericProfile.of(np.array([0.0, 1.0] * 50)).quantile_points() is None  # per-value bins: chi-square


def test_discrete_and_constant_columns_get_valid_bins() -> None:
    booleans = NumericProfile.of(np.array([0.0] * 90 + [1.0] * 10))
    assert booleans.edges == (0.0, 1.0, 2.0)
    assert booleans.counts == (90, 10)
    constant = NumericProfile.of(np.full(50, 3.0))
    assert constant.edges == (3.0, 4.0)
    assert constant.counts == (50,)


def test_profile_of_synthetic_training_data(spec: FeatureSpec) -> None:
    batch = TransactionGenerator(seed=11).generate(5_000)
    features = batch.features()
    profile = reference_profile(spec, features, batch.fraud_probability)
    assert profile.n_rows == 5_000
    assert set(profile.categorical) == {"merchant_category", "channel"}
    assert len(profile.numeric) == 14
    channel = profile.categorical["channel"]
    assert sum(channel.counts.values()) == 5_000
    assert channel.counts["pos"] == sum(r["channel"] == "pos" for r in batch.records)
    assert profile.score is not None
    assert ReferenceProfile.from_json(json.loads(json.dumps(profile.to_json()))) == profile
    with pytest.raises(ValueError, match="non-empty"):
        reference_profile(spec, features[:, :3])


def test_reference_files(spec: FeatureSpec, tmp_path: Path) -> None:
    batch = TransactionGenerator(seed=12).generate(2_000)
    features = batch.features()
    expected = reference_profile(spec, features, features[:, 0] / 1e6)
    np.save(tmp_path / "train.npy", features)
    assert load_reference(tmp_path / "train.npy", spec, lambda x: x[:, 0] / 1e6) == expected
    schema = fastavro.parse_schema(json.loads((Path("schemas/avro/transactions.events.avsc")).read_text()))
    with (tmp_path / "train.avro").open("wb") as handle:
        fastavro.writer(handle, schema, batch.records)
    assert load_reference(tmp_path / "train.avro", spec, lambda x: x[:, 0] / 1e6) == expected
    (tmp_path / "profile.json").write_text(json.dumps(expected.to_json()))
    assert load_reference(tmp_path / "profile.json", spec) == expected
    np.testing.assert_array_equal(encode(spec, batch.records), features)
    with pytest.raises(ValueError, match=r"unsupported reference file type \.csv"):
        load_reference(tmp_path / "train.csv", spec)
