"""Progress of a replay: a rich bar with rate and ETA on the terminal, or nothing (tests, benchmarks); and the
wall and CPU time of each of its phases."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

Advance = Callable[[int], None]


class ProgressSink(Protocol):
    def phase(self, name: str, total: int, done: int = 0) -> Advance:
        """A new bar; returns the function that moves it (safe to call from any thread)."""
        ...


class Quiet:
    def phase(self, name: str, total: int, done: int = 0) -> Advance:
        return lambda n: None


class RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} events/s" if speed else "- events/s", style="cyan")


class Bar:
    """One bar per phase (events, labels), each with its rate and ETA; use as a context manager."""

    def __init__(self, console: Console | None = None) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console or Console(stderr=True),
            speed_estimate_period=10.0,
        )

    def phase(self, name: str, total: int, done: int = 0) -> Advance:
        task = self._progress.add_task(name, total=total, completed=done)
        return lambda n: self._advance(task, n)

    def _advance(self, task: TaskID, n: int) -> None:
        self._progress.advance(task, n)

    def __enter__(self) -> Bar:
        self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._progress.stop()


class Phases:
    """Wall time per phase of a replay, and the CPU time of this process (all threads) beside it."""

    def __init__(self) -> None:
        self._start = self._last = time.perf_counter()
        self._cpu = time.process_time()
        self.laps: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        self.laps[name], self.cpu[name] = now - self._last, cpu - self._cpu
        self._last, self._cpu = now, cpu

    @property
    def total(self) -> float:
        return time.perf_counter() - self._start
