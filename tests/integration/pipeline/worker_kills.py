"""kill -9 of scorer workers under a backlog, counted: every event stored once, and how many prediction records
were published twice (the work a killed worker, or a rebalance, made another worker redo).

Used by the quick test in this folder (a couple of kills) and by the long measurement (tens of kills).
"""

from __future__ import annotations

import random
import subprocess
import time
from dataclasses import dataclass

from confluent_kafka import Consumer, TopicPartition

from scorecast.app.produce_cli import produce_synthetic
from scorecast.cassandra import connect
from scorecast.settings import Settings
from scorers.worker import WorkerConfig
from tests.integration.pipeline.conftest import SpawnWorker
from tests.integration.pipeline.test_delivery_guarantees import committed

STREAM = "transactions"


@dataclass(frozen=True)
class KillRun:
    events: int
    kills: int
    batch_max: int
    partitions: int
    stored: int  # distinct prediction rows in Cassandra
    published: int  # prediction records on the predictions topic
    seconds: float

    @property
    def duplicates(self) -> int:
        return self.published - self.events

    @property
    def duplicates_per_kill(self) -> float:
        return self.duplicates / self.kills

    def summary(self) -> str:
        return (
            f"{self.events} events, {self.kills} kills, batch_max {self.batch_max}, {self.partitions} partitions: "
            f"stored {self.stored} (lost {self.events - self.stored}), published {self.published}, "
            f"duplicates {self.duplicates} ({self.duplicates_per_kill:.0f} per kill), {self.seconds:.0f}s"
        )


def kill_workers_under_backlog(
    settings: Settings, spawn_worker: SpawnWorker, events: int, kills: int, batch_max: int, static: bool = False
) -> KillRun:
    """Two workers drain a backlog of ``events``; ``kills`` times one of them is killed (alternately) at evenly
    spaced points of progress, a random fraction of a second into a batch, and restarted at once (as the same
    static member if ``static``). Returns when both have drained it and exited."""
    started = time.monotonic()
    assert produce_synthetic(settings, STREAM, count=events, seed=31, labels=False).sent == events
    group = settings.group_id(WorkerConfig(stream=STREAM, model="fraud").group)
    args = ("--batch-max", str(batch_max), "--idle-exit", "8")

    def spawn(slot: int) -> subprocess.Popen[str]:
        return spawn_worker(*args, *(("--instance-id", f"worker-{slot}") if static else ()))

    workers = [spawn(0), spawn(1)]
    pause = random.Random(kills)
    for k in range(kills):
        _wait_for_progress(settings, group, events * (k + 1) // (kills + 1))
        victim = k % 2
        time.sleep(pause.uniform(0.0, 0.5))  # anywhere in a batch, not just after a commit
        workers[victim].kill()  # SIGKILL: the batch in hand is neither delivered nor committed
        workers[victim].wait()
        workers[victim] = spawn(victim)
    for worker in workers:
        output, _ = worker.communicate(timeout=600)
        assert worker.returncode == 0, output
    return KillRun(
        events=events,
        kills=kills,
        batch_max=batch_max,
        partitions=settings.topic_partitions,
        stored=_stored(settings),
        published=_published(settings),
        seconds=time.monotonic() - started,
    )


def _wait_for_progress(settings: Settings, group: str, target: int, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while committed(settings, group) < target:
        assert time.monotonic() < deadline, f"group {group} never committed {target} events"
        time.sleep(0.1)


def _published(settings: Settings) -> int:
    topic = settings.topic(STREAM, "predictions")
    consumer = Consumer({**settings.kafka_config(), "group.id": "count-only"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        total = 0
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            total += high - low
        return total
    finally:
        consumer.close()


def _stored(settings: Settings) -> int:
    session = connect(settings, settings.keyspace)
    try:
        return sum(1 for _ in session.execute("SELECT event_id FROM predictions"))
    finally:
        session.cluster.shutdown()
