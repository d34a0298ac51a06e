"""Placement read from ORT profiles: a CUDA-shaped profile (written as ORT writes one) and a real CPU run."""

from __future__ import annotations

from typing import Any

from scorers.placement import Placement, parse_profile

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


def node(name: str, op: str, provider: str, suffix: str = "_kernel_time") -> dict[str, Any]:
    return {"cat": "Node", "name": name + suffix, "args": {"op_name": op, "provider": provider}}


def test_a_cuda_run_with_a_tree_ensemble_left_on_the_cpu() -> None:
    run = [
        node("scaler_fold", "MatMul", CUDA),
        node("add", "Add", CUDA),
        node("relu", "Relu", CUDA),
        node("copy_in", "MemcpyFromHost", CUDA),
        node("trees", "TreeEnsembleClassifier", CPU),
        node("copy_out", "MemcpyToHost", CUDA),
        node("shape", "Shape", CPU),  # shape arithmetic: ORT keeps it on the CPU on purpose
        node("add", "Add", CUDA, suffix="_fence_before"),
        {"cat": "Session", "name": "model_run", "args": {}},
    ]
    placement = parse_profile(run + run)  # two runs: each node counts once
    assert placement == Placement({CUDA: 3, CPU: 1}, copies=2, cpu_ops=("TreeEnsembleClassifier",))
    assert placement.total == 4
    assert placement.share(CUDA) == 0.75
    assert placement.describe() == (
        "CUDAExecutionProvider 3/4 nodes, CPUExecutionProvider 1/4 nodes, 2 host<->device copies "
        "(on CPU: TreeEnsembleClassifier)"
    )


def test_all_on_one_provider_and_nothing_run() -> None:
    placement = parse_profile([node("a", "MatMul", CUDA), node("b", "Sigmoid", CUDA)])
    assert placement.describe() == "CUDAExecutionProvider 2/2 nodes"
    assert placement.share(CPU) == 0.0
    assert Placement().describe() == "no node ran"
    assert Placement().share(CUDA) == 0.0
