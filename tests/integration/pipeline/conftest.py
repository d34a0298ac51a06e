"""Pipeline fixtures: the example models registered in the test's own keyspace, and a way to run workers."""

from __future__ import annotations

import os
import subprocess
import sys
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
def run_worker(pipeline_settings: Settings) -> RunWorker:
    """Runs a scorer worker in this process until it has been idle for ``idle_exit_s``."""

    def run(idle_exit_s: float = 3.0, stop: threading.Event | None = None, **config: object) -> WorkerStats:
        worker_config = WorkerConfig(**{"stream": "transactions", "model": "fraud", **config})  # type: ignore[arg-type]
        with scorer_worker(pipeline_settings, worker_config) as worker:
            return worker.run(stop or threading.Event(), idle_exit_s=idle_exit_s)

    return run


def worker_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a `scorecast` subprocess use exactly these settings."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("SCORECAST_")}, **settings.environment()}


SpawnWorker = Callable[..., subprocess.Popen[str]]


@pytest.fixture
def spawn_worker(pipeline_settings: Settings) -> Iterator[SpawnWorker]:
    """Starts `scorecast worker score` processes; any still running at the end are killed."""
    started: list[subprocess.Popen[str]] = []

    def spawn(*args: str) -> subprocess.Popen[str]:
        scorecast = Path(sys.executable).with_name("scorecast")
        process = subprocess.Popen(
            [str(scorecast), "worker", "score", "--stream", "transactions", "--model", "fraud", *args],
            env=worker_env(pipeline_settings),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started.append(process)
        return process

    yield spawn
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()
