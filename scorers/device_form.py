"""A model's form for a GPU: the registered graph with every ``ai.onnx.ml`` node rewritten in standard ops.

The CUDA provider has no kernels for ``ai.onnx.ml`` (TreeEnsembleClassifier, LinearClassifier, Scaler,
ArrayFeatureExtractor), so the converters' exports ran partly or wholly on the CPU inside a CUDA session,
with host<->device copies around every such node. The runtime derives this form at load when a session goes
to CUDA; the registry keeps one artifact and one checksum, and the CPU keeps serving the registered graph, so
CPU scores are unchanged. What is rewritten:

- the label output and what only it needs (ArgMax, ArrayFeatureExtractor...) are dropped: scoring reads the
  probability output only;
- ``Scaler`` is folded into the MatMul (+ Add) that follows it (skl2onnx's MLP), else becomes Sub and Mul;
- ``LinearClassifier`` becomes MatMul, Add and its post transform;
- ``TreeEnsembleClassifier`` becomes the GEMM form of scorers.tree_tensor.

``device_form`` returns None when anything else of ``ai.onnx.ml`` is left; the model then keeps its graph and
the placement check at load reports the nodes that stay on the CPU.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import onnx
from onnx import GraphProto, ModelProto, NodeProto, TensorProto, helper, numpy_helper

from scorers.tree_tensor import NoTensorFormError, tensor_nodes

log = logging.getLogger(__name__)

ML = "ai.onnx.ml"
OPSET = 15  # ReduceSum with an axes input (13), LessOrEqual (12)
FLOAT_OUTPUTS = (TensorProto.FLOAT, TensorProto.DOUBLE)
# Ops whose meaning did not change from opset 9 to 15: a graph of only these may be raised to OPSET. Any other op
# of an older graph (Clip, Softmax, Upsample...) could change meaning with the opset, so no tensor form then.
STABLE_SINCE_9 = frozenset(
    {"Identity", "Cast", "Add", "Sub", "Mul", "Div", "MatMul", "Gemm", "Relu", "Sigmoid", "Tanh", "Exp", "Log", "Abs"}
    | {"Neg", "Sqrt", "Concat", "Reshape", "Transpose", "ArgMax", "Flatten", "Squeeze", "Unsqueeze"}
)


def device_form(data: bytes) -> bytes | None:
    """The standard-op form of an ONNX model, or None when some ai.onnx.ml node cannot be rewritten."""
    model = onnx.load_from_string(data)
    if not any(n.domain == ML for n in model.graph.node):
        return None  # standard ops already: served as registered
    version = max([o.version for o in model.opset_import if o.domain in ("", "ai.onnx")], default=1)
    try:
        if version < OPSET:
            older = sorted({n.op_type for n in model.graph.node if n.domain in ("", "ai.onnx")} - STABLE_SINCE_9)
            if older:
                raise NoTensorFormError(f"opset {version} graph with {', '.join(older)}, which opset {OPSET} changed")
        _rewrite(model)
    except NoTensorFormError as error:
        log.info("no tensor form: %s", error)
        return None
    left = sorted({n.op_type for n in model.graph.node if n.domain == ML})
    if left:
        log.info("no tensor form: %s has no standard-op rewrite", ", ".join(left))
        return None
    imports = [o for o in model.opset_import if o.domain not in ("", "ai.onnx", ML)]
    del model.opset_import[:]
    model.opset_import.extend([helper.make_opsetid("", max(version, OPSET)), *imports])
    onnx.checker.check_model(model)
    tensor: bytes = model.SerializeToString()
    return tensor


def _rewrite(model: ModelProto) -> None:
    graph = model.graph
    kept = [o for o in graph.output if o.type.tensor_type.elem_type in FLOAT_OUTPUTS]
    if not kept:
        raise NoTensorFormError("no float output")
    del graph.output[:]
    graph.output.extend(kept)
    _prune(graph)
    nodes: list[NodeProto] = []
    for index, node in enumerate(list(graph.node)):
        prefix = f"_tensor{index}_"
        if node.domain != ML or node.op_type == "Scaler":
            nodes.append(node)
        elif node.op_type == "TreeEnsembleClassifier":
            new, init = tensor_nodes(node, prefix)
            nodes += new
            graph.initializer.extend(init)
        elif node.op_type == "LinearClassifier":
            new, init = _linear(node, prefix)
            nodes += new
            graph.initializer.extend(init)
        else:
            nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    # Scalers last: what follows them is standard ops by now, so a MatMul after one can absorb it.
    nodes = []
    for index, node in enumerate(list(graph.node)):
        nodes += _scaler(graph, node, f"_scaler{index}_") if node.domain == ML and node.op_type == "Scaler" else [node]
    del graph.node[:]
    graph.node.extend(nodes)
    _prune(graph)


def _prune(graph: GraphProto) -> None:
    """Drop nodes and initializers no graph output needs."""
    needed = {o.name for o in graph.output}
    kept: list[NodeProto] = []
    for node in reversed(list(graph.node)):
        if any(out in needed for out in node.output):
            kept.append(node)
            needed.update(i for i in node.input if i)
    del graph.node[:]
    graph.node.extend(reversed(kept))
    initializers = [t for t in graph.initializer if t.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(initializers)


def _attributes(node: NodeProto) -> dict[str, Any]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _linear(node: NodeProto, n: str) -> tuple[list[NodeProto], list[TensorProto]]:
    a = _attributes(node)
    intercepts = np.asarray(a.get("intercepts", []), dtype=np.float32)
    classes = len(intercepts)
    coefficients = np.asarray(a["coefficients"], dtype=np.float32).reshape(classes, -1)
    labels = a.get("classlabels_ints") or a.get("classlabels_strings") or []
    post = _text(a.get("post_transform", "NONE"))
    if classes != 2 or len(labels) != 2 or post not in ("NONE", "LOGISTIC", "SOFTMAX") or a.get("multi_class", 0):
        raise NoTensorFormError(f"LinearClassifier with {classes} score columns and post_transform {post}")
    init = [
        numpy_helper.from_array(np.ascontiguousarray(coefficients.T), f"{n}weights"),
        numpy_helper.from_array(intercepts, f"{n}intercepts"),
    ]
    nodes = [
        helper.make_node("MatMul", [node.input[0], f"{n}weights"], [f"{n}product"]),
        helper.make_node("Add", [f"{n}product", f"{n}intercepts"], [f"{n}raw"]),
    ]
    if post == "SOFTMAX":
        nodes.append(helper.make_node("Softmax", [f"{n}raw"], [node.output[1]], axis=1))
    else:
        nodes.append(helper.make_node("Sigmoid" if post == "LOGISTIC" else "Identity", [f"{n}raw"], [node.output[1]]))
    return nodes, init


def _scaler(graph: GraphProto, node: NodeProto, n: str) -> list[NodeProto]:
    """Folded into the MatMul (+ Add) that alone consumes it, through a float Cast; else Sub and Mul."""
    a = _attributes(node)
    offset = np.asarray(a.get("offset", [0.0]), dtype=np.float64)
    scale = np.asarray(a.get("scale", [1.0]), dtype=np.float64)
    if _fold_scaler(graph, node, offset, scale):
        return []
    graph.initializer.extend(
        [
            numpy_helper.from_array(offset.astype(np.float32), f"{n}offset"),
            numpy_helper.from_array(scale.astype(np.float32), f"{n}scale"),
        ]
    )
    return [
        helper.make_node("Sub", [node.input[0], f"{n}offset"], [f"{n}centred"]),
        helper.make_node("Mul", [f"{n}centred", f"{n}scale"], [node.output[0]]),
    ]


def _fold_scaler(graph: GraphProto, scaler: NodeProto, offset: np.ndarray, scale: np.ndarray) -> bool:
    """x -> ((x - o) * s) @ W + b  becomes  x @ (s W) + (b - (o s) @ W), computed in float64."""
    consumers = _consumers(graph)
    value = scaler.output[0]
    users = consumers.get(value, [])
    if len(users) == 1 and users[0].op_type == "Cast" and _attributes(users[0]).get("to") == TensorProto.FLOAT:
        value = users[0].output[0]
        users = consumers.get(value, [])
    if len(users) != 1 or users[0].op_type != "MatMul" or users[0].input[0] != value:
        return False
    matmul = users[0]
    initializers = {t.name: t for t in graph.initializer}
    adds = consumers.get(matmul.output[0], [])
    if matmul.input[1] not in initializers or len(adds) != 1 or adds[0].op_type != "Add":
        return False
    add = adds[0]
    bias_name = add.input[1] if add.input[0] == matmul.output[0] else add.input[0]
    if bias_name not in initializers:
        return False
    weights = numpy_helper.to_array(initializers[matmul.input[1]]).astype(np.float64)
    bias = numpy_helper.to_array(initializers[bias_name]).astype(np.float64)
    width = weights.shape[0]
    offset = np.broadcast_to(offset, (width,))
    scale = np.broadcast_to(scale, (width,))
    folded = scale[:, None] * weights
    shifted = bias - (offset * scale) @ weights
    initializers[matmul.input[1]].CopyFrom(numpy_helper.from_array(folded.astype(np.float32), matmul.input[1]))
    initializers[bias_name].CopyFrom(numpy_helper.from_array(shifted.astype(np.float32), bias_name))
    matmul.input[0] = scaler.input[0]
    return True


def _consumers(graph: GraphProto) -> dict[str, list[NodeProto]]:
    users: dict[str, list[NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    return users
