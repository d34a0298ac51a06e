"""Rollout fixtures: the shadow path's fixtures, a deliberately bad model (scores inverted), a fake clock."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import onnx
import pytest
from cassandra.cluster import Session
from onnx import helper, numpy_helper

from scorecast.cassandra import connect
from scorecast.settings import Settings
from tests.integration.pipeline.conftest import pipeline_settings, registered
from tests.integration.shadow.conftest import spawn

__all__ = ["pipeline_settings", "registered", "spawn"]


@pytest.fixture
def session(pipeline_settings: Settings) -> Iterator[Session]:
    session = connect(pipeline_settings, pipeline_settings.keyspace)
    yield session
    session.cluster.shutdown()


def inverted(onnx_bytes: bytes) -> bytes:
    """The same classifier with its two probability columns swapped: a model that scores 1 - p."""
    model = onnx.load_from_string(onnx_bytes)
    for node in model.graph.node:
        node.output[:] = ["probabilities_raw" if o == "probabilities" else o for o in node.output]
    swap = numpy_helper.from_array(np.array([[0, 1], [1, 0]], dtype=np.float32), "swap_columns")
    model.graph.initializer.append(swap)
    model.graph.node.append(helper.make_node("MatMul", ["probabilities_raw", "swap_columns"], ["probabilities"]))
    serialized: bytes = model.SerializeToString()
    return serialized


class FakeClock:
    def __init__(self, now_s: float) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s
