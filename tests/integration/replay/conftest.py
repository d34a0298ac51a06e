"""Replay fixtures: the example models registered in the test's keyspace, produced events, a replay runner."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scorecast.app.produce_cli import produce_synthetic
from scorecast.settings import Settings
from scorers.registry import ModelVersion
from scorers.replay.reader import RangeReader, RawBatch
from scorers.replay.runner import ReplayOutcome, ReplayRequest, run_replay
from tests.integration.pipeline.conftest import pipeline_settings, registered, run_worker

__all__ = ["pipeline_settings", "registered", "run_worker"]
STREAM = "transactions"
START_MS = 1_767_225_600_000  # event time of every produced batch's first event: labels can be regenerated


@dataclass(frozen=True)
class Produced:
    count: int
    seed: int
    from_ms: int  # a record-time window holding exactly this batch: [from_ms, to_ms)
    to_ms: int

    @property
    def window(self) -> tuple[str, str]:
        return str(self.from_ms), str(self.to_ms)


Produce = Callable[..., Produced]


@pytest.fixture
def produce(pipeline_settings: Settings) -> Produce:
    """Produces a synthetic batch (and its labels); batches are 30 ms apart so their time windows never overlap."""

    def make(count: int, seed: int = 3, labels: bool = True) -> Produced:
        time.sleep(0.03)
        before = int(time.time() * 1000)
        produce_synthetic(pipeline_settings, STREAM, count=count, seed=seed, labels=labels, start_ms=START_MS)
        after = int(time.time() * 1000) + 1
        time.sleep(0.03)
        return Produced(count, seed, before, after)

    return make


Replay = Callable[..., ReplayOutcome]


@pytest.fixture
def replay(pipeline_settings: Settings, tmp_path: Path) -> Replay:
    """Runs a replay in this process; results go to ``<tmp>/<name>.parquet``."""

    def run(start: str, end: str, models: tuple[str, ...], name: str = "results", **options: Any) -> ReplayOutcome:
        progress, stop = options.pop("progress", None), options.pop("stop", None)
        request = ReplayRequest(
            stream=STREAM, start=start, end=end, models=models, results=tmp_path / f"{name}.parquet", **options
        )
        return run_replay(pipeline_settings, request, progress, stop)

    return run


def read_results(path: Path) -> pa.Table:
    return pq.read_table(path)


def champion(registered: list[ModelVersion]) -> str:
    version = next(v for v in registered if v.metrics.get("kind") == "lightgbm")
    return f"{version.model}@{version.version}"


def every_version(registered: list[ModelVersion]) -> tuple[str, ...]:
    return tuple(f"{v.model}@{v.version}" for v in registered)


class CountingReader(RangeReader):
    """The real range reader, counting the records it reads from Kafka (events or labels, wherever installed)."""

    read = 0

    def __iter__(self) -> Iterator[RawBatch]:
        for raw in super().__iter__():
            CountingReader.read += len(raw)
            yield raw


def count_reads(monkeypatch: pytest.MonkeyPatch, module: object) -> type[CountingReader]:
    """Make ``module`` read its ranges through ``CountingReader``, counting from zero."""
    monkeypatch.setattr(module, "RangeReader", CountingReader)
    CountingReader.read = 0
    return CountingReader
