"""`scorecast shadow report` errors are one line and exit 1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from scorecast.settings import Settings
from tests.integration.pipeline.conftest import worker_env


def report(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    scorecast = Path(sys.executable).with_name("scorecast")
    return subprocess.run(
        [str(scorecast), "shadow", "report", "--model", "fraud", *args],
        env=worker_env(settings), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_a_report_without_joined_results_is_one_clear_error(settings: Settings) -> None:
    done = report(settings, "--since", "2026-01-01T00:00")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: no joined shadow results of fraud in this range (is `worker shadow-join` running?)"
    ]


def test_bad_options_are_one_clear_error(settings: Settings) -> None:
    for args, message in (
        (("--since", "yesterday"), "error: --since: 'yesterday' is not an ISO 8601 time, e.g. 2026-01-31T12:00"),
        (("--top-rate", "1.5"), "error: --top-rate must be within (0, 1), not 1.5"),
    ):
        done = report(settings, *args)
        assert (done.returncode, done.stderr.strip()) == (1, message)
