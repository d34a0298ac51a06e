"""The benchmark suite's exit status: a run whose sections could not measure (services down, a crash) fails,
instead of printing tracebacks and exiting 0 as if it had measured."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import benchmarks.__main__ as suite
from scorecast.settings import Settings


def measured(settings: Settings, plan: suite.Plan, models: Any) -> suite.Section:
    return suite.Section("measured", lines=["fine"])


def unreachable(settings: Settings, plan: suite.Plan, models: Any) -> suite.Section:
    raise ConnectionRefusedError("Cassandra at 127.0.0.1:9042 unreachable")


@pytest.fixture
def sections(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(suite, "SECTIONS", {"measured": measured, "unreachable": unreachable})
    monkeypatch.setattr(suite, "REPORTS", tmp_path)


@pytest.mark.usefixtures("sections")
def test_a_section_that_could_not_measure_fails_the_run_and_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.argv", ["benchmarks", "--only", "measured,unreachable"])
    with pytest.raises(SystemExit) as exited:
        suite.main()
    assert exited.value.code == "1 of 2 sections not measured: unreachable"


@pytest.mark.usefixtures("sections")
def test_a_run_where_every_section_measured_exits_zero(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("sys.argv", ["benchmarks", "--only", "measured"])
    suite.main()
    assert "fine" in (tmp_path / "benchmarks.md").read_text()
