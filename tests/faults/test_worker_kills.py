"""Duplicates on restarts at length (minutes; `make faults`): ten kill -9s of scorer workers under a 200k backlog.

Only the workers are killed; the services are the fault suite's own. The quick version (two kills) runs with
the integration tests (tests/integration/pipeline/test_worker_kills.py).
"""

from __future__ import annotations

import pytest

from scorecast.batch_consumer import BATCHES_IN_HAND
from scorecast.settings import Settings
from scorers.registry import ModelVersion
from tests.integration.pipeline import conftest as pipeline
from tests.integration.pipeline.conftest import SpawnWorker
from tests.integration.pipeline.worker_kills import kill_workers_under_backlog

# The pipeline fixtures (example models registered, worker processes), on the fault suite's services.
pipeline_settings = pipeline.pipeline_settings
registered = pipeline.registered
spawn_worker = pipeline.spawn_worker


@pytest.mark.slow
def test_ten_kills_under_a_200k_backlog(
    pipeline_settings: Settings, registered: list[ModelVersion], spawn_worker: SpawnWorker
) -> None:
    """Prints the figures: `pytest -s -m faults tests/faults/test_worker_kills.py`."""
    run = kill_workers_under_backlog(pipeline_settings, spawn_worker, events=200_000, kills=10, batch_max=2000)
    print(run.summary())
    assert run.stored == run.events
    assert run.duplicates <= run.kills * BATCHES_IN_HAND * run.batch_max


@pytest.mark.slow
def test_ten_kills_of_static_members_under_a_200k_backlog(
    pipeline_settings: Settings, registered: list[ModelVersion], spawn_worker: SpawnWorker
) -> None:
    """The same with static membership (`--instance-id`): a restarted worker takes its partitions back at once."""
    run = kill_workers_under_backlog(
        pipeline_settings, spawn_worker, events=200_000, kills=10, batch_max=2000, static=True
    )
    print(run.summary())
    assert run.stored == run.events
    assert run.duplicates <= run.kills * BATCHES_IN_HAND * run.batch_max
