"""Fixtures of the scorers integration tests: the test's keyspace with its own artifact folder, and a registry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas.features import FeatureSpec, load_feature_spec
from scorecast.settings import Settings
from scorers.registry import Registry


@pytest.fixture
def model_settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"model_store": str(tmp_path / "models"), "onnx_device": "cpu"})


@pytest.fixture
def registry(model_settings: Settings) -> Iterator[Registry]:
    with Registry.open(model_settings) as reg:
        yield reg


@pytest.fixture(scope="session")
def spec() -> FeatureSpec:
    return load_feature_spec("transactions")
