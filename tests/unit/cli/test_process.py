"""Process set-up shared by every worker: the log level comes from SCORECAST_LOG_LEVEL, and every worker
command sets up logging and its stop on SIGTERM/SIGINT through scorecast.process."""

from __future__ import annotations

import ast
import importlib
import inspect
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from typing import Any

import pytest

from scorecast import process
from scorecast.app.cli import WORKER_COMMANDS
from scorecast.process import log_level

PROJECT = ("scorecast", "schemas", "scorers", "streams", "shadow", "infra", "lookup_api")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, logging.INFO),
        ("debug", logging.DEBUG),
        ("WARNING", logging.WARNING),
        ("15", 15),
        ("nonsense", logging.INFO),
    ],
)
def test_the_log_level_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str | None, expected: int
) -> None:
    if value is None:
        monkeypatch.delenv("SCORECAST_LOG_LEVEL", raising=False)
    else:
        monkeypatch.setenv("SCORECAST_LOG_LEVEL", value)
    assert log_level() == expected


def reachable(function: Callable[..., Any]) -> set[Callable[..., Any]]:
    """``function`` and every project function it calls by name, transitively (read from their source)."""
    seen: set[Callable[..., Any]] = set()
    todo = [function]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(current)))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                called = current.__globals__.get(node.func.id)
                if inspect.isfunction(called) and called.__module__.split(".")[0] in PROJECT:
                    todo.append(called)
    return seen


@pytest.mark.parametrize("command", sorted(WORKER_COMMANDS))
def test_every_worker_sets_up_logging_and_stops_on_signals(command: str) -> None:
    module, _, name = WORKER_COMMANDS[command].partition(":")
    called = reachable(getattr(importlib.import_module(module), name))
    assert process.configure_logging in called, f"worker {command} leaves logging unconfigured"
    assert process.stop_on_signals in called, f"worker {command} handles signals its own way"


def test_verbose_logs_debug_through_the_shared_set_up() -> None:
    code = (
        "import logging, os\n"
        "from typer.testing import CliRunner\n"
        "from scorecast.app.cli import app\n"
        "result = CliRunner().invoke(app, ['--verbose', 'schemas', '--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "root = logging.getLogger()\n"
        "print(os.environ['SCORECAST_LOG_LEVEL'], logging.getLevelName(root.level), len(root.handlers))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "SCORECAST_LOG_LEVEL"}
    command = [sys.executable, "-c", code]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["DEBUG", "DEBUG", "1"]  # child processes inherit the level too


@pytest.mark.parametrize(("value", "shown"), [("INFO", False), ("WARNING", False), ("DEBUG", True)])
def test_driver_lines_are_shown_only_at_debug(monkeypatch: pytest.MonkeyPatch, value: str, shown: bool) -> None:
    monkeypatch.setenv("SCORECAST_LOG_LEVEL", value)
    driver = logging.getLogger("cassandra.cluster")
    monkeypatch.setattr(logging.getLogger("cassandra"), "level", logging.NOTSET)  # restored after the test
    process.configure_logging()
    assert driver.isEnabledFor(logging.ERROR) is shown
    assert driver.isEnabledFor(logging.DEBUG) is shown
