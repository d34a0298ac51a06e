"""A tree ensemble (``ai.onnx.ml`` TreeEnsembleClassifier) rewritten as standard ONNX tensor ops.

The CUDA provider has no kernel for the ``ai.onnx.ml`` tree ops, so a LightGBM or scikit-learn forest exported
by onnxmltools/skl2onnx runs on the CPU inside a "GPU" session. This is Hummingbird's GEMM strategy, written
over the ONNX node's own attributes (Hummingbird needs torch, far past the install budget). For G trees padded
to I internal nodes and L leaves, and n rows:

    decisions  T[n, G, I] = x[:, feature[g, i]] <= threshold[g, i]          Gather, LessOrEqual
    paths      P[G, n, L] = T @ C    C[g, i, l] = +1 / -1 if leaf l lies under i's true / false branch
    leaf       H[G, n, L] = P == D   D[g, l]    = number of +1 in C[g, :, l] (padded leaves: -1, never hit)
    score      s[n, K]    = sum_g H @ W  + base values, then the post transform

Every step but the last sum is exact in float32 (0/±1 entries, small integer sums, a one-hot pick of a leaf
value), so the two forms differ only by the order in which float32 tree values are added (parity test:
max |Δscore| <= 1e-5 on the holdout). A NaN input goes where the ensemble says
(``nodes_missing_value_tracks_true``: IsNaN, And, Or), though the event rules (schemas.rules) keep features finite.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from onnx import NodeProto, TensorProto, helper, numpy_helper

CONDITIONS = {"BRANCH_LEQ": "LessOrEqual", "BRANCH_LT": "Less", "BRANCH_GTE": "GreaterOrEqual", "BRANCH_GT": "Greater"}


class NoTensorFormError(ValueError):
    """A tree ensemble this converter does not rewrite (it keeps its ai.onnx.ml form)."""


@dataclass(frozen=True)
class Tensors:
    """The padded matrices of the GEMM form."""

    features: np.ndarray  # (G * I,) int64
    thresholds: np.ndarray  # (G * I,) float32
    paths: np.ndarray  # C: (G, I, L) float32
    depths: np.ndarray  # D: (G, 1, L) float32
    values: np.ndarray  # W: (G, L, K) float32
    nan_true: np.ndarray  # (G * I,) bool: a NaN input takes the split's true branch
    condition: str  # the ONNX comparison op of every split


def _attributes(node: NodeProto) -> dict[str, Any]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def ensemble_tensors(node: NodeProto) -> tuple[Tensors, dict[str, Any]]:
    """The GEMM-form matrices of one TreeEnsembleClassifier node, and its attributes."""
    a = _attributes(node)
    modes = [m.decode() if isinstance(m, bytes) else m for m in a["nodes_modes"]]
    splits = {m for m in modes if m != "LEAF"}
    if len(splits) > 1 or not splits <= set(CONDITIONS):
        raise NoTensorFormError(f"split modes {sorted(splits)}: only one of {sorted(CONDITIONS)} is rewritten")
    if "nodes_values_as_tensor" in a or "class_weights_as_tensor" in a:
        raise NoTensorFormError("double-precision thresholds or weights")
    labels = a.get("classlabels_int64s") or a.get("classlabels_strings") or []
    if len(labels) != 2:
        raise NoTensorFormError(f"{len(labels)} classes: only binary classifiers are rewritten")
    columns = sorted(set(a["class_ids"]))
    index = {c: k for k, c in enumerate(columns)}
    trees: dict[int, dict[int, int]] = {}  # tree id -> node id -> position in the attribute lists
    for position, (tree, node_id) in enumerate(zip(a["nodes_treeids"], a["nodes_nodeids"], strict=True)):
        trees.setdefault(tree, {})[node_id] = position
    leaf_values: dict[tuple[int, int], np.ndarray] = {}
    for tree, node_id, cls, weight in zip(
        a["class_treeids"], a["class_nodeids"], a["class_ids"], a["class_weights"], strict=True
    ):
        leaf_values.setdefault((tree, node_id), np.zeros(len(columns), dtype=np.float32))[index[cls]] += weight
    shapes = [_tree(trees[t], t, a, modes, leaf_values, len(columns)) for t in sorted(trees)]
    internal = max(max(len(s[0]), 1) for s in shapes)
    leaves = max(len(s[2]) for s in shapes)
    g = len(shapes)
    features = np.zeros((g, internal), dtype=np.int64)
    nan_true = np.zeros((g, internal), dtype=bool)
    thresholds = np.zeros((g, internal), dtype=np.float32)
    paths = np.zeros((g, internal, leaves), dtype=np.float32)
    depths = np.full((g, 1, leaves), -1.0, dtype=np.float32)
    values = np.zeros((g, leaves, len(columns)), dtype=np.float32)
    for t, (splits_of_tree, routes, leaf_vals) in enumerate(shapes):
        for i, (feature, threshold, missing) in enumerate(splits_of_tree):
            features[t, i], thresholds[t, i], nan_true[t, i] = feature, threshold, missing
        for leaf, route in enumerate(routes):
            for i, sign in route:
                paths[t, i, leaf] = sign
            depths[t, 0, leaf] = sum(1 for _, sign in route if sign > 0)
            values[t, leaf] = leaf_vals[leaf]
    condition = CONDITIONS[splits.pop()]
    tensors = Tensors(
        features.reshape(-1), thresholds.reshape(-1), paths, depths, values, nan_true.reshape(-1), condition
    )
    return tensors, a


def _tree(
    nodes: dict[int, int],
    tree: int,
    a: dict[str, Any],
    modes: list[str],
    leaf_values: dict[tuple[int, int], np.ndarray],
    width: int,
) -> tuple[list[tuple[int, float, bool]], list[list[tuple[int, int]]], list[np.ndarray]]:
    """One tree: splits (feature, threshold, NaN goes true), each leaf's route [(split, +1 true / -1 false)],
    leaf values."""
    missing = a.get("nodes_missing_value_tracks_true") or [0] * len(modes)
    splits: list[tuple[int, float, bool]] = []
    routes: list[list[tuple[int, int]]] = []
    values: list[np.ndarray] = []
    stack: list[tuple[int, list[tuple[int, int]]]] = [(0, [])]
    while stack:
        node_id, route = stack.pop()
        if node_id not in nodes:
            raise NoTensorFormError(f"tree {tree} refers to a missing node {node_id}")
        p = nodes[node_id]
        if modes[p] == "LEAF":
            routes.append(route)
            values.append(leaf_values.get((tree, node_id), np.zeros(width, dtype=np.float32)))
            continue
        split = len(splits)
        splits.append((int(a["nodes_featureids"][p]), float(a["nodes_values"][p]), bool(missing[p])))
        stack.append((int(a["nodes_falsenodeids"][p]), [*route, (split, -1)]))
        stack.append((int(a["nodes_truenodeids"][p]), [*route, (split, 1)]))
    return splits, routes, values


def tensor_nodes(node: NodeProto, prefix: str) -> tuple[list[NodeProto], list[TensorProto]]:
    """Standard-op nodes computing ``node``'s probability output (its second output) from its input."""
    tensors, a = ensemble_tensors(node)
    post = a.get("post_transform", b"NONE")
    post = post.decode() if isinstance(post, bytes) else post
    if post not in ("NONE", "LOGISTIC"):
        raise NoTensorFormError(f"post_transform {post}")
    columns = tensors.values.shape[2]
    base = np.asarray(a.get("base_values", []) or np.zeros(columns), dtype=np.float32)
    if base.shape != (columns,):
        raise NoTensorFormError("base_values of another width than the class weights")
    g, internal, _ = tensors.paths.shape
    n = prefix
    init = [
        numpy_helper.from_array(tensors.features, f"{n}features"),
        numpy_helper.from_array(tensors.thresholds, f"{n}thresholds"),
        numpy_helper.from_array(tensors.paths, f"{n}paths"),
        numpy_helper.from_array(tensors.depths, f"{n}depths"),
        numpy_helper.from_array(tensors.values, f"{n}values"),
        numpy_helper.from_array(np.array([-1, g, internal], dtype=np.int64), f"{n}shape"),
        numpy_helper.from_array(np.array([0], dtype=np.int64), f"{n}trees_axis"),
        numpy_helper.from_array(base, f"{n}base"),
    ]
    x = node.input[0]
    nodes = [
        helper.make_node("Gather", [x, f"{n}features"], [f"{n}picked"], axis=1),
        helper.make_node(tensors.condition, [f"{n}picked", f"{n}thresholds"], [f"{n}compared"]),
    ]
    decided = f"{n}compared"
    if tensors.nan_true.any():
        nodes.append(helper.make_node("IsNaN", [f"{n}picked"], [f"{n}nan"]))
        missing = f"{n}nan"
        if not tensors.nan_true.all():
            init.append(numpy_helper.from_array(tensors.nan_true, f"{n}nan_true"))
            nodes.append(helper.make_node("And", [f"{n}nan", f"{n}nan_true"], [f"{n}nan_goes_true"]))
            missing = f"{n}nan_goes_true"
        nodes.append(helper.make_node("Or", [f"{n}compared", missing], [f"{n}decided"]))
        decided = f"{n}decided"
    nodes += [
        helper.make_node("Cast", [decided], [f"{n}decisions"], to=TensorProto.FLOAT),
        helper.make_node("Reshape", [f"{n}decisions", f"{n}shape"], [f"{n}by_tree"]),
        helper.make_node("Transpose", [f"{n}by_tree"], [f"{n}trees_first"], perm=[1, 0, 2]),
        helper.make_node("MatMul", [f"{n}trees_first", f"{n}paths"], [f"{n}path_sums"]),
        helper.make_node("Equal", [f"{n}path_sums", f"{n}depths"], [f"{n}hit"]),
        helper.make_node("Cast", [f"{n}hit"], [f"{n}leaf"], to=TensorProto.FLOAT),
        helper.make_node("MatMul", [f"{n}leaf", f"{n}values"], [f"{n}tree_scores"]),
        helper.make_node("ReduceSum", [f"{n}tree_scores", f"{n}trees_axis"], [f"{n}summed"], keepdims=0),
        helper.make_node("Add", [f"{n}summed", f"{n}base"], [f"{n}raw"]),
    ]
    probabilities = node.output[1]
    if columns == 2:  # one score per class: the classes' own columns
        last = f"{n}raw"
        if post == "LOGISTIC":
            nodes.append(helper.make_node("Sigmoid", [last], [f"{n}squashed"]))
            last = f"{n}squashed"
        nodes.append(helper.make_node("Identity", [last], [probabilities]))
        return nodes, init
    # One score column (LightGBM binary): it is the positive class; the negative one is its complement.
    init.append(numpy_helper.from_array(np.array(1.0, dtype=np.float32), f"{n}one"))
    positive = f"{n}raw"
    if post == "LOGISTIC":
        nodes.append(helper.make_node("Sigmoid", [positive], [f"{n}positive"]))
        positive = f"{n}positive"
    nodes += [
        helper.make_node("Sub", [f"{n}one", positive], [f"{n}negative"]),
        helper.make_node("Concat", [f"{n}negative", positive], [probabilities], axis=1),
    ]
    return nodes, init
