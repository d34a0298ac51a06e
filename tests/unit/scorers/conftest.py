"""Fixtures of the scorers unit tests: the transactions feature spec and a small sklearn model in ONNX."""

from __future__ import annotations

import numpy as np
import pytest
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.linear_model import LogisticRegression

from schemas.features import FeatureSpec, load_feature_spec


@pytest.fixture(scope="session")
def spec() -> FeatureSpec:
    return load_feature_spec("transactions")


@pytest.fixture(scope="session")
def sklearn_logistic() -> tuple[LogisticRegression, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2_000, 16)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 3] + rng.normal(size=2_000) > 0).astype(int)
    return LogisticRegression().fit(x, y), x


def convert(model: LogisticRegression, zipmap: bool = False) -> bytes:
    onx = to_onnx(
        model,
        initial_types=[("input", FloatTensorType([None, 16]))],
        options={id(model): {"zipmap": zipmap}},
        target_opset=15,
    )
    data: bytes = onx.SerializeToString()
    return data
