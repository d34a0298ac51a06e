"""What every benchmark reports: a median over repeated runs with its spread, and ratios taken in one run."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Measurement:
    name: str
    unit: str
    median: float
    low: float
    high: float
    runs: int

    @classmethod
    def of(cls, name: str, unit: str, values: Sequence[float]) -> Measurement:
        """The median of ``values`` with their spread."""
        return cls(name, unit, statistics.median(values), min(values), max(values), len(values))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        return (
            f"{self.name}: {figure(self.median)} {self.unit} "
            f"(min {figure(self.low)}, max {figure(self.high)}, n={self.runs})"
        )


def figure(value: float) -> str:
    """Thousands separators for rates, decimals for small latencies."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


def measure(name: str, unit: str, run: Callable[[], float], repeats: int = 3) -> Measurement:
    """Run ``run`` ``repeats`` times; each call returns one figure (a rate or a latency)."""
    return Measurement.of(name, unit, [run() for _ in range(repeats)])


def ratio(numerator: Measurement, denominator: Measurement) -> float:
    return numerator.median / denominator.median if denominator.median else float("nan")
