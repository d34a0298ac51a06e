"""Rollout fixtures: the shadow path's fixtures, a deliberately bad model (scores inverted), a fake clock."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from tests.integration.pipeline.conftest import pipeline_settings, registered
from tests.integration.shadow.conftest import spawn

__all__ = ["pipeline_settings", "registered", "spawn"]


def inverted(onnx_bytes: bytes) -> bytes:
    """The same classifier with its two probability columns swapped: a model that scores 1 - p."""
    model = onnx.load_from_string(onnx_bytes)
    for node in model.graph.node:
        node.output[:] = ["probabilities_raw" if o == "probabilities" else o for o in node.output]
    swap = numpy_helper.from_array(np.array([[0, 1], [1, 0]], dtype=np.float32), "swap_columns")
    model.graph.initializer.append(swap)
    model.graph.node.append(helper.make_node("MatMul", ["probabilities_raw", "swap_columns"], ["probabilities"]))
    return model.SerializeToString()


class FakeClock:
    def __init__(self, now_s: float) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s
