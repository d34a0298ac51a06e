"""Pipeline fixtures: the example models registered in the test's own keyspace, and a way to run workers."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from scorecast.settings import Settings
from scorers.registry import ModelVersion, Registry
from scorers.training import ExampleModel, register_examples
from scorers.worker import WorkerConfig, WorkerStats, scorer_worker


@pytest.fixture
def pipeline_settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"model_store": str(tmp_path / "models"), "onnx_device": "cpu"})


@pytest.fixture
def registered(pipeline_settings: Settings, example_models: list[ExampleModel]) -> list[ModelVersion]:
    with Registry.open(pipeline_settings) as registry:
        return register_examples(registry, example_models)


RunWorker = Callable[..., WorkerStats]


@pytest.fixture
def run_worker(pipeline_settings: Settings) -> Iterator[RunWorker]:
    """Runs a scorer worker in this process until it has been idle for ``idle_exit_s``."""

    def run(idle_exit_s: float = 3.0, stop: threading.Event | None = None, **config: object) -> WorkerStats:
        worker_config = WorkerConfig(**{"stream": "transactions", "model": "fraud", **config})  # type: ignore[arg-type]
        with scorer_worker(pipeline_settings, worker_config) as worker:
            return worker.run(stop or threading.Event(), idle_exit_s=idle_exit_s)

    yield run
