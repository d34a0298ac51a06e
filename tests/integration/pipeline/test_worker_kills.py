"""Duplicates on restarts stay bounded: a kill -9 costs at most the worker's batches in hand (BATCHES_IN_HAND)."""

from __future__ import annotations

from scorecast.batch_consumer import BATCHES_IN_HAND
from scorecast.settings import Settings
from scorers.registry import ModelVersion
from tests.integration.pipeline.conftest import SpawnWorker
from tests.integration.pipeline.worker_kills import kill_workers_under_backlog


def test_two_kills_under_a_backlog_lose_nothing_and_redo_at_most_the_batches_in_hand(
    pipeline_settings: Settings, registered: list[ModelVersion], spawn_worker: SpawnWorker
) -> None:
    batch_max = 500
    run = kill_workers_under_backlog(pipeline_settings, spawn_worker, events=30_000, kills=2, batch_max=batch_max)
    print(run.summary())
    assert run.stored == run.events  # nothing lost
    # The killed worker's batches in hand are redone (the one being written and the one written before it, whose
    # commit may not have been sent yet: at most BATCHES_IN_HAND batches);
    # the survivor hands partitions over with their delivered offsets committed, so it redoes nothing.
    assert run.duplicates <= run.kills * BATCHES_IN_HAND * batch_max
