"""Backtest data from the synthetic generator, with a drift that starts halfway, and its reference profile."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from schemas.features import FeatureSpec, load_feature_spec
from schemas.synthetic import DriftConfig, TransactionGenerator
from scorers.profile import reference_profile
from scorers.registry import ModelVersion
from scorers.replay.results import Backtest
from scorers.signature import OutputSpec

N = 24_000


@pytest.fixture(scope="session")
def spec() -> FeatureSpec:
    return load_feature_spec("transactions")


def _score(features: np.ndarray) -> np.ndarray:
    """A fixed, reasonable scorer: amount over its typical size, squashed."""
    return (1.0 / (1.0 + np.exp(-(features[:, 0] / 200.0 - 3.0)))).astype(np.float32)


@pytest.fixture(scope="session")
def backtest(spec: FeatureSpec) -> Backtest:
    drift = DriftConfig(data_drift_at=N // 2, shift={"amount": 2.0})
    batch = TransactionGenerator(seed=9, drift=drift).generate(N)
    features = batch.features()
    known = np.ones(N, dtype=bool)
    known[::10] = False  # a tenth without a label within the horizon
    return Backtest(
        event_times=np.array([r["event_time"] for r in batch.records], dtype=np.int64),
        features=features,
        feature_names=spec.names,
        scores={("fraud", 1): _score(features), ("fraud", 2): np.full(N, 0.03, dtype=np.float32)},
        labels=batch.labels,
        known=known,
        rejects={"bad-header": 2},
        unreadable_labels=1,
    )


@pytest.fixture(scope="session")
def versions(spec: FeatureSpec) -> list[ModelVersion]:
    reference = TransactionGenerator(seed=1).generate(20_000).features()
    profile = reference_profile(spec, reference, _score(reference))
    created = datetime(2026, 1, 1, tzinfo=UTC)
    output = OutputSpec("input", "probabilities", 1)
    return [
        ModelVersion("fraud", 1, created, "t", "", "00", "file:///m1", spec, output, profile, {}),
        ModelVersion("fraud", 2, created, "t", "", "11", "file:///m2", spec, output, None, {}),
    ]
