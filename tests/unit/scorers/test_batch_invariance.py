"""A row's score does not depend on the batch it comes in: the live scorer's batches (often of one event) and
a replay's (thousands) give the same bits, however a replay is split over processes or shards."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from schemas.features import FeatureSpec
from scorers.runtime import OnnxModel


def _onnx(classifier: Any, x: np.ndarray, y: np.ndarray) -> bytes:
    """As the example challengers are exported: a StandardScaler pipeline, zipmap off, opset 15."""
    pipeline = make_pipeline(StandardScaler(), classifier).fit(x, y)
    types = [("input", FloatTensorType([None, x.shape[1]]))]
    onx = to_onnx(pipeline, initial_types=types, options={id(classifier): {"zipmap": False}}, target_opset=15)
    data: bytes = onx.SerializeToString()
    return data


@pytest.mark.parametrize(
    "classifier",
    [
        pytest.param(LogisticRegression(max_iter=200), id="logistic"),  # Scaler + LinearClassifier (ai.onnx.ml)
        pytest.param(MLPClassifier(hidden_layer_sizes=(64, 32), max_iter=30, random_state=0), id="mlp"),
    ],
)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_row_alone_scores_the_same_bits_as_in_a_batch(spec: FeatureSpec, classifier: Any) -> None:
    rng = np.random.default_rng(11)
    x = rng.normal(size=(2_000, len(spec))).astype(np.float32) * 30 + 7
    y = (x[:, 0] + 0.5 * x[:, 3] + rng.normal(size=2_000) * 30 > 10).astype(int)
    model = OnnxModel.load(_onnx(classifier, x, y), spec, device="cpu")
    rows = x[:400]
    together = model.predict(rows)
    # ONNX Runtime's LinearClassifier multiplies one row with another kernel than several: its sums differed in
    # the last bits for about a quarter of the rows of the example logistic challenger
    alone = np.concatenate([model.predict(rows[i : i + 1]) for i in range(len(rows))])
    assert np.array_equal(alone, together)
    in_pairs = np.concatenate([model.predict(rows[i : i + 2]) for i in range(0, len(rows), 2)])
    assert np.array_equal(in_pairs, together)
