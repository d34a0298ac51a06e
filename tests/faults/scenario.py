"""One fault scenario under load: a scorer worker subprocess, events produced through the SDK, a fault injected
mid-load, and the exact accounting afterwards (produced / scored / dead-lettered / lost / wrong / duplicates)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from cassandra.cluster import Cluster
from cassandra.policies import ConstantReconnectionPolicy
from confluent_kafka import Consumer, KafkaError, TopicPartition

from schemas.codec import AvroCodec
from schemas.registry import open_store
from scorecast.app.produce_cli import ProduceResult, produce_synthetic
from scorecast.settings import Settings
from tests.faults.cluster import ROOT

STREAM = "transactions"
FIGURES = ROOT / ".scorecast" / "faults" / "figures.jsonl"


@dataclass
class Figures:
    """What docs/reliability.md reports for a scenario."""

    scenario: str
    produced: int = 0
    scored: int = 0
    dead_lettered: int = 0
    lost: int = 0
    wrong: int = 0
    duplicates: int = 0
    outage_s: float = 0.0
    restart_s: float = 0.0
    recovery_s: float | None = None
    notes: list[str] = field(default_factory=list)

    def save(self) -> None:
        FIGURES.parent.mkdir(parents=True, exist_ok=True)
        with FIGURES.open("a") as out:
            out.write(json.dumps({"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **asdict(self)}) + "\n")


class Rows:
    """Counts prediction rows from the test's side, reconnecting every 0.5 s (the worker's own reconnection is
    what is measured, not this one's)."""

    def __init__(self, settings: Settings) -> None:
        self.cluster = Cluster(
            settings.cassandra_hosts,
            port=settings.cassandra_port,
            protocol_version=5,
            reconnection_policy=ConstantReconnectionPolicy(0.5, max_attempts=None),
            connect_timeout=2,
        )
        self.session = self.cluster.connect(settings.keyspace)

    def count(self) -> int | None:
        try:
            return int(self.session.execute("SELECT count(*) FROM predictions", timeout=10).one()[0])
        except Exception:  # unavailable while the fault lasts
            return None

    def wait_for(self, done: Callable[[int], bool], timeout_s: float, poll_s: float = 0.2) -> tuple[int, float]:
        """Poll until ``done(count)``; returns the count and the monotonic time it was seen."""
        deadline = time.monotonic() + timeout_s
        while True:
            count = self.count()
            if count is not None and done(count):
                return count, time.monotonic()
            if time.monotonic() > deadline:
                raise AssertionError(f"no progress within {timeout_s:.0f}s (last count {count})")
            time.sleep(poll_s)

    def stored(self) -> list[tuple[str, int, str, int, str]]:
        """(model, version, entity_id, event_time ms, event_id) of every row."""
        rows = self.session.execute(
            "SELECT model, version, entity_id, event_time, event_id FROM predictions", timeout=60
        )
        return [(r.model, r.version, r.entity_id, int(r.event_time.timestamp() * 1000 + 0.5), r.event_id) for r in rows]

    def close(self) -> None:
        self.cluster.shutdown()


class Producing:
    """Synthetic events through the producer SDK in a background thread, paced."""

    def __init__(self, settings: Settings, count: int, rate: float, seed: int) -> None:
        self.result: ProduceResult | None = None
        self.error: BaseException | None = None

        def run() -> None:
            try:
                self.result = produce_synthetic(settings, STREAM, count=count, seed=seed, rate=rate, labels=False)
            except BaseException as error:  # reported by join()
                self.error = error

        self.thread = threading.Thread(target=run, name="produce", daemon=True)
        self.thread.start()

    def join(self, timeout_s: float) -> ProduceResult:
        self.thread.join(timeout_s)
        assert not self.thread.is_alive(), f"producing did not finish within {timeout_s:.0f}s"
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def spawn_worker(settings: Settings, log: Path, *args: str) -> subprocess.Popen[bytes]:
    """`scorecast worker score` with exactly these settings (and ``args``), its output in ``log``."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SCORECAST_")}, **settings.environment()}
    scorecast = Path(sys.executable).with_name("scorecast")
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(scorecast), "worker", "score", "--stream", STREAM, "--model", "fraud", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def topic_records(settings: Settings, kind: str, timeout_s: float = 60) -> list[tuple[bytes | None, bytes | None]]:
    """Every record of a topic of the stream, read from the start to the end offsets of now."""
    topic = settings.topic(STREAM, kind)
    consumer = Consumer({**settings.kafka_config(), "group.id": f"check-{uuid.uuid4()}", "enable.auto.commit": False})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions if ends[p] > 0])
        left = {p for p, end in ends.items() if end > 0}
        records: list[tuple[bytes | None, bytes | None]] = []
        deadline = time.monotonic() + timeout_s
        while left and time.monotonic() < deadline:
            for message in consumer.consume(1000, 0.5):
                error = message.error()
                if error is not None:
                    assert error.code() == KafkaError._PARTITION_EOF, error
                    continue
                records.append((message.key(), message.value()))
                if (message.offset() or 0) + 1 >= ends[message.partition() or 0]:
                    left.discard(message.partition() or 0)
        assert not left, f"{topic}: partitions {sorted(left)} not read to their end within {timeout_s:.0f}s"
        return records
    finally:
        consumer.close()


def account(settings: Settings, rows: Rows, champion: int, figures: Figures) -> Figures:
    """Exact counts from the events topic, Cassandra and the output topics."""
    codec = AvroCodec(open_store(settings), settings.topic(STREAM, "events"), f"{STREAM}.events")
    produced: dict[str, tuple[str, int]] = {}
    for _, value in topic_records(settings, "events"):
        assert value is not None
        record = codec.decode(value)
        produced[record["event_id"]] = (record["entity_id"], _ms(record["event_time"]))
    stored = rows.stored()
    stored_ids = {row[4] for row in stored}
    figures.produced = len(produced)
    figures.scored = len(stored_ids & produced.keys())
    figures.lost = len(produced.keys() - stored_ids)
    figures.wrong = sum(
        1
        for model, version, entity_id, event_time, event_id in stored
        if model != "fraud" or version != champion or produced.get(event_id) != (entity_id, event_time)
    )
    figures.dead_lettered = len(topic_records(settings, "dead-letters"))
    figures.duplicates = len(topic_records(settings, "predictions")) - figures.scored
    return figures


def _ms(value: object) -> int:
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000 + 0.5)
    assert isinstance(value, int)
    return value
