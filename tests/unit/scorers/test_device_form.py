"""The GPU (tensor) form of the example models: standard ops only, same scores as the registered graph.

Parity bound (the issue's): max |Δscore| <= 1e-5 on the holdout, both forms run by onnxruntime's CPU provider
(seen: <= 2e-7; the forms differ only in the order float32 tree values are summed, and the MLP's folded
scaler). Models are trained on a few thousand rows so this runs in seconds in ``make test``.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper
from sklearn.ensemble import RandomForestClassifier

from scorers.device_form import device_form
from scorers.training import ExampleData, example_data, lightgbm_champion, logistic_challenger, mlp_challenger
from tests.unit.scorers.conftest import convert

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def data() -> ExampleData:
    return example_data(11, 4_000, 5_000)


@pytest.fixture(scope="module")
def exports(data: ExampleData) -> dict[str, bytes]:
    trainers = {"lightgbm": lightgbm_champion, "mlp": mlp_challenger, "logistic": logistic_challenger}
    return {kind: train(data, 11)[1] for kind, train in trainers.items()}


def scores(model: bytes, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    result: np.ndarray = session.run(["probabilities"], {session.get_inputs()[0].name: x})[0]
    return result[:, 1]


@pytest.mark.parametrize("kind", ["lightgbm", "mlp", "logistic"])
def test_tensor_form_matches_the_registered_graph_on_the_holdout(
    exports: dict[str, bytes], data: ExampleData, kind: str
) -> None:
    tensor = device_form(exports[kind])
    assert tensor is not None
    graph = onnx.load_from_string(tensor).graph
    assert {n.domain for n in graph.node} <= {"", "ai.onnx"}  # nothing the CUDA provider lacks a kernel for
    assert [o.name for o in graph.output] == ["probabilities"]
    x = data.x_holdout
    assert len(x) == 5_000
    difference = np.abs(scores(tensor, x).astype(np.float64) - scores(exports[kind], x)).max()
    assert difference <= TOLERANCE


def test_the_mlp_scaler_is_folded_into_its_first_matmul(exports: dict[str, bytes]) -> None:
    before = onnx.load_from_string(exports["mlp"]).graph
    assert before.node[0].op_type == "Scaler"
    tensor = device_form(exports["mlp"])
    assert tensor is not None
    graph = onnx.load_from_string(tensor).graph
    assert graph.node[0].op_type == "MatMul"
    assert graph.node[0].input[0] == graph.input[0].name  # the raw features, no Sub/Mul/Cast before it
    assert "Scaler" not in {n.op_type for n in graph.node}


def test_nan_features_follow_the_trees_missing_value_branches(exports: dict[str, bytes], data: ExampleData) -> None:
    # The event rules keep features finite; the tensor form still routes NaN as the ensemble says.
    x = data.x_holdout[:2_000].copy()
    x[::7, 0] = np.nan
    x[::5, 3] = np.nan
    tensor = device_form(exports["lightgbm"])
    assert tensor is not None
    np.testing.assert_allclose(scores(tensor, x), scores(exports["lightgbm"], x), atol=TOLERANCE, rtol=0)


def test_a_sklearn_forest_has_a_tensor_form(data: ExampleData) -> None:
    forest = RandomForestClassifier(n_estimators=12, max_depth=7, random_state=0).fit(data.x_train, data.y_train)
    exported = convert(forest)
    tensor = device_form(exported)
    assert tensor is not None
    x = data.x_holdout
    session = ort.InferenceSession(tensor, providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x})[0][:, 1]
    reference = ort.InferenceSession(exported, providers=["CPUExecutionProvider"])
    expected = reference.run(["probabilities"], {"input": x})[0][:, 1]
    assert np.abs(got.astype(np.float64) - expected).max() <= TOLERANCE


def test_an_ml_op_without_a_rewrite_leaves_the_model_as_it_is() -> None:
    nodes = [
        helper.make_node("Binarizer", ["x"], ["b"], domain="ai.onnx.ml", threshold=0.5),
        helper.make_node("ReduceMean", ["b"], ["probabilities"], axes=[1], keepdims=1),
    ]
    graph = helper.make_graph(
        nodes,
        "binarized",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 16])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["n", 1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15), helper.make_opsetid("ai.onnx.ml", 1)])
    assert device_form(model.SerializeToString()) is None


def test_standard_op_models_and_opset_changes_are_left_as_they_are() -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 16])
    out = helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["n", 1])
    plain = helper.make_graph(
        [helper.make_node("ReduceMean", ["x"], ["m"], axes=[1]), helper.make_node("Sigmoid", ["m"], ["probabilities"])],
        "plain",
        [x],
        [out],
    )
    assert (
        device_form(helper.make_model(plain, opset_imports=[helper.make_opsetid("", 15)]).SerializeToString()) is None
    )
    # Clip took min/max as attributes at opset 6 and as inputs from 11: raising this graph's opset would break it.
    clipped = helper.make_graph(
        [
            helper.make_node("Scaler", ["x"], ["s"], domain="ai.onnx.ml", offset=[0.0], scale=[1.0]),
            helper.make_node("Clip", ["s"], ["c"], min=0.0, max=1.0),
            helper.make_node("ReduceMean", ["c"], ["probabilities"], axes=[1]),
        ],
        "clipped",
        [x],
        [out],
    )
    old = helper.make_model(clipped, opset_imports=[helper.make_opsetid("", 9), helper.make_opsetid("ai.onnx.ml", 1)])
    assert device_form(old.SerializeToString()) is None
