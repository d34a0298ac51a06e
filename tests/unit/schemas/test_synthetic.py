"""The synthetic transaction domain: valid events, determinism, a known non-linear truth, drift, late labels."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fastavro import parse_schema
from fastavro.validation import validate_many

from schemas.features import AVRO_DIR, encode, load_feature_spec
from schemas.synthetic import (
    DriftConfig,
    TransactionGenerator,
    ground_truth_probability,
    label_records,
    reference_std,
)

SPEC = load_feature_spec("transactions")
COL = {name: j for j, name in enumerate(SPEC.names)}


def test_records_match_the_events_schema() -> None:
    schema = parse_schema(json.loads((AVRO_DIR / "transactions.events.avsc").read_text()))
    batch = TransactionGenerator(seed=3).generate(2_000)
    assert validate_many(batch.records, schema)
    assert all(isinstance(r["event_time"], int) for r in batch.records)
    assert len({r["event_id"] for r in batch.records}) == 2_000


def test_same_seed_same_events_however_chunked() -> None:
    whole = TransactionGenerator(seed=7).generate(10_000)
    chunked = TransactionGenerator(seed=7)
    parts = [chunked.generate(n) for n in (1, 4_095, 4_097, 1_807)]
    assert [r for p in parts for r in p.records] == whole.records
    assert np.array_equal(np.concatenate([p.labels for p in parts]), whole.labels)
    assert np.array_equal(np.concatenate([p.label_delays_ms for p in parts]), whole.label_delays_ms)
    assert TransactionGenerator(seed=8).generate(10).records != whole.records[:10]


def test_output_types_and_time_order() -> None:
    gen = TransactionGenerator(seed=1, start_ms=1_000_000, events_per_s=100.0)
    batch = gen.generate(20_000)
    assert batch.labels.dtype == np.int8
    assert set(np.unique(batch.labels)) <= {0, 1}
    assert batch.fraud_probability.dtype == np.float64
    assert batch.label_delays_ms.dtype == np.int64
    times = np.array([r["event_time"] for r in batch.records])
    assert times[0] >= 1_000_000
    assert np.all(np.diff(times) >= 0)
    span_s = (times[-1] - times[0]) / 1000
    assert span_s == pytest.approx(200.0, rel=0.05)  # 20k events at 100 events/s


def test_fraud_base_rate_and_labels_follow_the_truth() -> None:
    batch = TransactionGenerator(seed=11).generate(60_000)
    assert 0.01 <= batch.labels.mean() <= 0.03
    truth = ground_truth_probability(encode(SPEC, batch.records))
    assert np.allclose(truth, batch.fraud_probability)
    # Labels are Bernoulli draws of that probability: the mean agrees within sampling error.
    assert abs(batch.labels.mean() - truth.mean()) < 4 * np.sqrt(truth.mean() / 60_000)


def test_truth_has_interactions() -> None:
    base = encode(SPEC, TransactionGenerator(seed=5).generate(1).records)
    rows = np.repeat(base, 4, axis=0)
    rows[:, COL["merchant_risk_score"]] = 0.0
    rows[:, COL["amount_to_avg_ratio"]] = [1.0, 8.0, 1.0, 8.0]
    rows[:, COL["card_present"]] = [1.0, 1.0, 0.0, 0.0]
    p = ground_truth_probability(rows)
    # A large amount matters much more when the card is not present: the effects do not add up.
    assert (p[3] / p[2]) > 3 * (p[1] / p[0])


def test_concept_drift_changes_the_truth_from_its_index() -> None:
    batch = TransactionGenerator(seed=2, drift=DriftConfig(concept_drift_at=5_000)).generate(10_000)
    x = encode(SPEC, batch.records)
    assert np.allclose(batch.fraud_probability[:5_000], ground_truth_probability(x[:5_000]))
    assert np.allclose(batch.fraud_probability[5_000:], ground_truth_probability(x[5_000:], concept_drift=True))
    assert not np.allclose(ground_truth_probability(x), ground_truth_probability(x, concept_drift=True))
    assert 0.01 <= ground_truth_probability(x, concept_drift=True).mean() <= 0.03


def test_data_drift_shifts_features_by_standard_deviations() -> None:
    drift = DriftConfig(data_drift_at=20_000, shift={"amount": 1.0, "foreign": 0.5})
    drifted = encode(SPEC, TransactionGenerator(seed=4, drift=drift).generate(40_000).records)
    plain = encode(SPEC, TransactionGenerator(seed=4).generate(40_000).records)
    std = reference_std()
    a = COL["amount"]
    assert np.array_equal(drifted[:20_000], plain[:20_000])
    assert np.allclose(drifted[20_000:, a] - plain[20_000:, a], std["amount"], rtol=1e-4)
    f = COL["foreign"]
    moved = drifted[20_000:, f].mean() - plain[20_000:, f].mean()
    assert moved == pytest.approx(0.5 * std["foreign"], abs=0.01)


def test_enum_features_cannot_be_shifted() -> None:
    with pytest.raises(ValueError, match="channel"):
        DriftConfig(data_drift_at=0, shift={"channel": 1.0})


def test_labels_arrive_late_and_fraud_sooner() -> None:
    batch = TransactionGenerator(seed=9).generate(30_000)
    labels = label_records(batch)
    assert [r["event_id"] for r in labels] == [r["event_id"] for r in batch.records]
    for label, event, delay in zip(labels[:100], batch.records[:100], batch.label_delays_ms[:100], strict=True):
        assert label["label_time"] == event["event_time"] + int(delay)
        assert label["entity_id"] == event["entity_id"]
    assert np.all(batch.label_delays_ms >= 60_000)
    fraud = batch.labels == 1
    assert np.median(batch.label_delays_ms[fraud]) < np.median(batch.label_delays_ms[~fraud])


def test_drift_leaves_everything_else_alone() -> None:
    drift = DriftConfig(data_drift_at=1_000, shift={"velocity_1h": 2.0})
    drifted = TransactionGenerator(seed=6, drift=drift).generate(5_000)
    plain = TransactionGenerator(seed=6).generate(5_000)
    assert [r["event_id"] for r in drifted.records] == [r["event_id"] for r in plain.records]
    assert all(
        d["velocity_1h"] > p["velocity_1h"] for d, p in zip(drifted.records[1_000:], plain.records[1_000:], strict=True)
    )


def test_drift_from_command_line_words() -> None:
    assert DriftConfig.of(10, [], None) == DriftConfig(10, {"amount": 1.0}, None)
    assert DriftConfig.of(10, ["customer_age=0.3", "foreign=-0.5"], 20) == DriftConfig(
        10, {"customer_age": 0.3, "foreign": -0.5}, 20
    )
    assert DriftConfig.of(None, [], 5) == DriftConfig(concept_drift_at=5)
    with pytest.raises(ValueError, match="feature=standard deviations"):
        DriftConfig.of(10, ["amount"])
    with pytest.raises(ValueError, match="cannot shift 'channel'"):
        DriftConfig.of(10, ["channel=1"])
