"""A running watcher follows promote and rollback in real Cassandra, and refuses a tampered artifact.

How fast it switches is measured by benchmarks/bench_hot_reload.py, not asserted here.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pytest

from scorecast.settings import Settings
from scorers.artifacts import file_path
from scorers.hot_reload import AliasWatcher, follow
from scorers.registry import Registry
from tests.unit.scorers import onnx_builders as build


def wait_for(watcher: AliasWatcher, version: int, timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if watcher.current().champion.version == version:
            return True
        time.sleep(0.01)
    return False


def test_watcher_follows_promote_and_rollback(
    model_settings: Settings, registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    for scale in (0.01, -0.01, 0.02, 0.03):
        registry.register("fraud", build.logistic(np.full((16, 1), scale, dtype=np.float32)), stream="transactions")
    registry.promote("fraud", 1)
    settings = model_settings.model_copy(update={"model_poll_interval_s": 0.05})
    with follow(registry, settings, "fraud", ("champion", "challenger"), stream="transactions") as watcher:
        assert watcher.current().champion.version == 1
        registry.set_alias("fraud", "challenger", 3)
        registry.promote("fraud", 2)
        assert wait_for(watcher, 2)
        deadline = time.monotonic() + 20
        while watcher.current().versions.get("challenger") != (3,) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert watcher.current().versions["challenger"] == (3,)
        registry.rollback("fraud")
        assert wait_for(watcher, 1)

        # Tamper with v4's stored bytes: promoting it must not replace the serving champion.
        path = file_path(registry.get("fraud", 4).artifact_uri)
        path.write_bytes(path.read_bytes()[:-8] + b"tampered")
        with caplog.at_level(logging.ERROR, logger="scorers.hot_reload"):
            registry.promote("fraud", 4)
            deadline = time.monotonic() + 20
            while not caplog.records and time.monotonic() < deadline:
                time.sleep(0.01)
        assert "fraud@4 refused: checksum mismatch" in caplog.records[0].getMessage()
        assert watcher.current().champion.version == 1
