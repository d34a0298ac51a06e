"""The README's main command runs end to end (on a small stream) and shows predictions through the API."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scorecast.app.demo import run_demo
from scorecast.cassandra import connect
from scorecast.settings import Settings


def test_demo_runs_the_whole_pipeline(settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    isolated = settings.model_copy(update={"model_store": str(tmp_path / "models"), "onnx_device": "cpu"})
    run_demo(isolated, events=3_000)
    out = capsys.readouterr().out
    assert "scored 3,000 events" in out
    assert "GET /v1/predictions/fraud/" in out
    assert "→ 200" in out
    # It ends with the decisions: the drift alarm on the shifted feature, a promotion decision with its
    # evidence, and the shadow report's verdict.
    decisions = out[out.index("9/9 decisions") :]
    assert "ALARM: amount" in decisions
    assert re.search(r"v2 vs v1: (PROMOTE|HOLD|REJECT) \(.*\); \d+ pairs", decisions), decisions
    assert re.search(r"shadow report: challenger v2 vs champion v1, 3,000 joined events: .* → ", decisions)
    session = connect(isolated, isolated.keyspace)
    try:
        # The champion's predictions and the two challengers' (shadow), per version.
        assert session.execute("SELECT count(*) FROM predictions").one()[0] == 3 * 3_000
    finally:
        session.cluster.shutdown()
