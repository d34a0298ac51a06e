"""Replay fixtures: the example models registered in the test's keyspace, a produced stream, a replay runner."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scorecast.produce_cli import produce_synthetic
from scorecast.settings import Settings
from scorers.registry import ModelVersion
from scorers.replay.progress import ProgressSink
from scorers.replay.runner import ReplayOutcome, ReplayRequest, run_replay
from tests.integration.pipeline.conftest import pipeline_settings, registered, run_worker, worker_env

__all__ = ["pipeline_settings", "registered", "run_worker", "worker_env"]
STREAM = "transactions"
START_MS = 1_767_225_600_000  # event time of the first synthetic event (2026-01-01): labels are regenerated from it


@dataclass(frozen=True)
class Produced:
    count: int
    seed: int
    from_ms: int  # record-time window around the produced events
    to_ms: int


@pytest.fixture
def produce(pipeline_settings: Settings) -> Callable[..., Produced]:
    def make(count: int, seed: int = 3, labels: bool = True) -> Produced:
        before = int(time.time() * 1000)
        produce_synthetic(pipeline_settings, STREAM, count=count, seed=seed, labels=labels, start_ms=START_MS)
        time.sleep(0.01)
        return Produced(count, seed, before - 1, int(time.time() * 1000) + 1)

    return make


Replay = Callable[..., ReplayOutcome]


@pytest.fixture
def replay(pipeline_settings: Settings, tmp_path: Path) -> Replay:
    """Runs a replay in this process; ``results`` defaults to a fresh file in the test's folder."""

    def run(
        start: str,
        end: str,
        models: tuple[str, ...],
        name: str = "results",
        progress: ProgressSink | None = None,
        stop: object = None,
        **options: object,
    ) -> ReplayOutcome:
        request = ReplayRequest(
            stream=STREAM, start=start, end=end, models=models, results=tmp_path / f"{name}.parquet", **options
        )  # type: ignore[arg-type]
        return run_replay(pipeline_settings, request, progress, stop)  # type: ignore[arg-type]

    return run


def read_results(path: Path) -> pa.Table:
    return pq.read_table(path)


def champion(registered: list[ModelVersion]) -> str:
    version = next(v for v in registered if v.metrics.get("kind") == "lightgbm")
    return f"{version.model}@{version.version}"


def every_version(registered: list[ModelVersion]) -> tuple[str, ...]:
    return tuple(f"{v.model}@{v.version}" for v in registered)
