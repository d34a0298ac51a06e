"""Shadow fixtures: the example models registered (champion + 2 challengers) and the shadow path's workers as
real `scorecast worker ...` processes, each in its own consumer group, next to an in-process joiner."""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition

from scorecast.cassandra import connect
from scorecast.settings import Settings
from shadow.join import JoinConfig, JoinStats
from shadow.join_worker import shadow_joiner
from tests.integration.pipeline.conftest import pipeline_settings, registered, worker_env

__all__ = ["pipeline_settings", "registered"]

Spawn = Callable[..., subprocess.Popen[str]]


@pytest.fixture
def spawn(pipeline_settings: Settings) -> Iterator[Spawn]:
    """Starts `scorecast worker <command> --stream transactions <args>`; any still running at the end are killed."""
    started: list[subprocess.Popen[str]] = []

    def start(command: str, *args: str) -> subprocess.Popen[str]:
        scorecast = Path(sys.executable).with_name("scorecast")
        process = subprocess.Popen(
            [str(scorecast), "worker", command, "--stream", "transactions", *args],
            env=worker_env(pipeline_settings),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def finish(process: subprocess.Popen[str], timeout_s: float = 300) -> str:
    """Wait for a worker that exits when idle; its output, asserting it ended cleanly."""
    output, _ = process.communicate(timeout=timeout_s)
    assert process.returncode == 0, output
    return output


def join_all(settings: Settings, idle_exit_s: float = 5.0, **config: object) -> JoinStats:
    """Run the joiner in this process until it has been idle for ``idle_exit_s``."""
    with shadow_joiner(settings, JoinConfig(stream="transactions", model="fraud", **config)) as joiner:  # type: ignore[arg-type]
        return joiner.run(threading.Event(), idle_exit_s=idle_exit_s)


def query(settings: Settings, cql: str, *args: object) -> list[tuple[object, ...]]:
    session = connect(settings, settings.keyspace)
    try:
        return [tuple(row) for row in session.execute(cql, args, timeout=60)]
    finally:
        session.cluster.shutdown()


def read_topic(settings: Settings, topic: str) -> list[Message]:
    """Every message of a topic up to its current end, read with assign (no group, no commits)."""
    consumer = Consumer({**settings.kafka_config(), "group.id": f"read-{uuid.uuid4()}", "enable.auto.commit": False})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p, end in ends.items() if end > 0])
        remaining = {p: end for p, end in ends.items() if end > 0}
        out: list[Message] = []
        while remaining:
            batch = consumer.consume(5000, 10.0)
            assert batch, f"{topic} stopped before its end"
            for m in batch:
                if m.error() is None and m.partition() in remaining:
                    out.append(m)
                    if (m.offset() or 0) + 1 >= remaining[m.partition() or 0]:
                        del remaining[m.partition() or 0]
        return out
    finally:
        consumer.close()
