"""Scan child processes: a failure in one ends the replay with that child's message as one line."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from schemas.features import load_feature_spec
from scorecast.settings import Settings
from scorers.registry import ModelVersion
from scorers.replay.errors import ReplayError
from scorers.replay.parallel import scan_all
from scorers.replay.ranges import PartitionRange
from scorers.replay.scan import ScanJob
from scorers.replay.versions import PinnedVersions
from scorers.signature import OutputSpec


def test_a_child_that_fails_ends_the_replay_with_its_message(services: Settings, tmp_path: Path) -> None:
    spec = load_feature_spec("transactions")
    meta = ModelVersion("fraud", 7, datetime.now(UTC), "t", "", "0" * 64, "file:///x", spec,
                        OutputSpec("input", "probabilities", 1), None, {})  # fmt: skip
    job = ScanJob(
        settings=services.model_copy(update={"onnx_device": "cpu"}),
        stream="transactions",
        ranges=(PartitionRange(0, 0, 100), PartitionRange(1, 0, 100)),
        versions=PinnedVersions(((meta, b"not an onnx model"),)),
        checkpoint=tmp_path,
    )
    seen: list[int] = []
    with pytest.raises(ReplayError, match="checksum mismatch") as failure:
        scan_all(job, 2, seen.append, threading.Event())
    assert "\n" not in str(failure.value)
    assert seen == []
    assert not list(tmp_path.glob("part-*"))
