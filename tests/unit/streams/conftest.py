"""Synthetic transactions for the streams tests: a reference profile and live batches from the same cards."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from schemas.features import FeatureSpec
from schemas.synthetic import SPEC, DriftConfig, TransactionGenerator
from scorers.profile import ReferenceProfile, reference_profile


@dataclass(frozen=True)
class Live:
    features: np.ndarray  # float32 (n, 16), feature-spec order
    times_ms: np.ndarray  # int64 event times


def live(generator: TransactionGenerator, n: int) -> Live:
    batch = generator.generate(n)
    return Live(batch.features(), np.array([r["event_time"] for r in batch.records], dtype=np.int64))


def reference_of(seed: int, n: int = 50_000) -> ReferenceProfile:
    """A training profile: the first ``n`` events of the seed's generator (live data continues after them)."""
    return reference_profile(SPEC, TransactionGenerator(seed).generate(n).features())


def generator_after_reference(seed: int, n: int = 50_000, drift: DriftConfig | None = None) -> TransactionGenerator:
    generator = TransactionGenerator(seed, drift=drift)
    generator.generate(n)
    return generator


@pytest.fixture(scope="session")
def spec() -> FeatureSpec:
    return SPEC


@pytest.fixture(scope="session")
def reference() -> ReferenceProfile:
    return reference_of(11)
