"""The README's main command runs end to end (on a small stream) and shows predictions through the API."""

from __future__ import annotations

from pathlib import Path

import pytest

from scorecast.cassandra import connect
from scorecast.demo import run_demo
from scorecast.settings import Settings


def test_demo_runs_the_whole_pipeline(settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    isolated = settings.model_copy(update={"model_store": str(tmp_path / "models"), "onnx_device": "cpu"})
    run_demo(isolated, events=3_000)
    out = capsys.readouterr().out
    assert "scored 3,000 events" in out
    assert "GET /v1/predictions/fraud/" in out
    assert "→ 200" in out
    session = connect(isolated, isolated.keyspace)
    try:
        assert session.execute("SELECT count(*) FROM predictions").one()[0] == 3_000
    finally:
        session.cluster.shutdown()
