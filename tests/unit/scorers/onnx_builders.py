"""Small hand-built ONNX models with known behaviour, for runtime and signature tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

WIDTH = 16


def _model(nodes: list[onnx.NodeProto], inputs: list[onnx.ValueInfoProto], outputs: list[onnx.ValueInfoProto],
           initializers: list[onnx.TensorProto]) -> bytes:  # fmt: skip
    graph = helper.make_graph(nodes, "test", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    data: bytes = model.SerializeToString()
    return data


def logistic(
    weights: np.ndarray | None = None,
    *,
    width: int = WIDTH,
    input_type: int = TensorProto.FLOAT,
    output_name: str = "score",
    output_shape: tuple[int | str | None, ...] = ("n", 1),
    sigmoid: bool = True,
) -> bytes:
    """score = sigmoid(float(x) @ w): one input, one float output of shape (n, 1) or (n,)."""
    w = np.full((width, 1), 0.01, dtype=np.float32) if weights is None else weights.astype(np.float32)
    nodes = [
        helper.make_node("Cast", ["x"], ["xf"], to=TensorProto.FLOAT),
        helper.make_node("MatMul", ["xf", "w"], ["logit"]),
    ]
    last = "logit"
    if sigmoid:
        nodes.append(helper.make_node("Sigmoid", [last], ["p"]))
        last = "p"
    if len(output_shape) == 1:
        nodes.append(helper.make_node("Flatten", [last], ["flat"], axis=0))
        nodes.append(helper.make_node("Squeeze", ["flat", "zero"], [output_name]))
    else:
        nodes.append(helper.make_node("Identity", [last], [output_name]))
    return _model(
        nodes,
        [helper.make_tensor_value_info("x", input_type, ["n", width])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, list(output_shape))],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.array([0], dtype=np.int64), "zero")],
    )


def sqrt_first_feature(width: int = WIDTH) -> bytes:
    """score = sigmoid(sqrt(x[:, 0])): finite on the probe (non-negative inputs), NaN for a negative x[:, 0]."""
    nodes = [
        helper.make_node("Slice", ["x", "start", "end", "axis"], ["x0"]),
        helper.make_node("Sqrt", ["x0"], ["root"]),
        helper.make_node("Sigmoid", ["root"], ["probability"]),
    ]
    ints = {"start": [0], "end": [1], "axis": [1]}
    return _model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", width])],
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["n", 1])],
        [numpy_helper.from_array(np.array(v, dtype=np.int64), k) for k, v in ints.items()],
    )


def two_inputs(width: int = WIDTH) -> bytes:
    return _model(
        [helper.make_node("Add", ["a", "b"], ["s"]), helper.make_node("Sigmoid", ["s"], ["p"])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["n", width]) for n in ("a", "b")],
        [helper.make_tensor_value_info("p", TensorProto.FLOAT, ["n", width])],
        [],
    )


def batch_size_trap(rows: int = 64, *, nan: bool = False, width: int = WIDTH) -> bytes:
    """sigmoid(x @ w), correct for batches of exactly ``rows`` and broken for any other size.

    The bug a fixed-shape export leaves: a Reshape to the static (``rows``, width) that onnxruntime refuses for
    another batch size or, with ``nan``, a Where on the batch size that turns every other size's scores to NaN.
    """
    w = np.full((width, 1), 0.01, dtype=np.float32)
    initializers = [numpy_helper.from_array(w, "w")]
    if nan:
        nodes = [
            helper.make_node("MatMul", ["x", "w"], ["logit"]),
            helper.make_node("Sigmoid", ["logit"], ["p"]),
            helper.make_node("Shape", ["x"], ["shape"], start=0, end=1),
            helper.make_node("Equal", ["shape", "rows"], ["fits"]),
            helper.make_node("Where", ["fits", "p", "nan"], ["probability"]),
        ]
        initializers += [
            numpy_helper.from_array(np.array([rows], dtype=np.int64), "rows"),
            numpy_helper.from_array(np.array([np.nan], dtype=np.float32), "nan"),
        ]
    else:
        nodes = [
            helper.make_node("Reshape", ["x", "fixed"], ["xr"]),
            helper.make_node("MatMul", ["xr", "w"], ["logit"]),
            helper.make_node("Sigmoid", ["logit"], ["probability"]),
        ]
        initializers.append(numpy_helper.from_array(np.array([rows, width], dtype=np.int64), "fixed"))
    return _model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", width])],
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["n", 1])],
        initializers,
    )


def amount_bucket_trap(limit: float = 10_000.0, buckets: int = 10, width: int = WIDTH) -> bytes:
    """sigmoid(x @ w + bias[floor(x[:, 0] / (limit / buckets))]): onnxruntime fails on a row with x[:, 0] >= limit.

    The bug a bucket table sized from the training range leaves: the Gather index of an amount beyond the
    largest bucket is out of bounds. Every probe passes (probe amounts stay far below ``limit``); the first live
    batch holding a larger amount fails.
    """
    w = np.full((width, 1), 0.01, dtype=np.float32)
    bias = np.linspace(-0.5, 0.5, buckets, dtype=np.float32).reshape(buckets, 1)
    nodes = [
        helper.make_node("Slice", ["x", "start", "end", "axis"], ["x0"]),
        helper.make_node("Div", ["x0", "step"], ["scaled"]),
        helper.make_node("Floor", ["scaled"], ["floored"]),
        helper.make_node("Cast", ["floored"], ["bucket2d"], to=TensorProto.INT64),
        helper.make_node("Squeeze", ["bucket2d", "axis"], ["bucket"]),
        helper.make_node("Gather", ["bias", "bucket"], ["shift"], axis=0),
        helper.make_node("MatMul", ["x", "w"], ["linear"]),
        helper.make_node("Add", ["linear", "shift"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["probability"]),
    ]
    ints = {"start": [0], "end": [1], "axis": [1]}
    return _model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", width])],
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["n", 1])],
        [
            numpy_helper.from_array(w, "w"),
            numpy_helper.from_array(bias, "bias"),
            numpy_helper.from_array(np.array([limit / buckets], dtype=np.float32), "step"),
            *(numpy_helper.from_array(np.array(v, dtype=np.int64), k) for k, v in ints.items()),
        ],
    )


class CopyCountingOrt:
    """onnxruntime whose OrtValue.ortvalue_from_numpy (the host-to-device copy) is counted."""

    def __init__(self) -> None:
        self.copies = 0
        outer = self

        class OrtValue:
            @staticmethod
            def ortvalue_from_numpy(array: np.ndarray, device: str, device_id: int) -> Any:
                outer.copies += 1
                return ort.OrtValue.ortvalue_from_numpy(array, device, device_id)

        self.OrtValue = OrtValue
