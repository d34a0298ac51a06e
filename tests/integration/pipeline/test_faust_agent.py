"""A faust app with scorecast's agent (docs/examples/faust_app.py) scores like the scorer worker: the same
Cassandra rows and prediction records for the same events, the same dead letters with the same reasons, and
its offsets committed once they are written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cassandra.cluster import Session
from confluent_kafka import Consumer, Producer, TopicPartition

from schemas.codec import AvroCodec
from schemas.dead_letters import DeadLetter
from schemas.registry import open_store, schema_name
from schemas.synthetic import TransactionGenerator
from scorecast.cassandra import connect
from scorecast.settings import Settings
from scorers.registry import ModelVersion
from scorers.worker import WorkerConfig
from tests.integration.pipeline.conftest import RunWorker, worker_env
from tests.integration.producer.reading import read_topic

STREAM = "transactions"
ROOT = Path(__file__).resolve().parents[3]
FAUST = str(Path(sys.executable).with_name("faust"))  # the faust-streaming command, as the docs run it
# Generous: faust joins its group in seconds on an idle box, but this one is shared and loaded.
GIVE_UP_S = 300.0

Row = tuple[str, str, int, float]  # entity, event, version, score


def _produce(settings: Settings, values: list[tuple[bytes, bytes]]) -> None:
    producer = Producer(settings.kafka_config())
    for key, value in values:
        producer.produce(settings.topic(STREAM, "events"), value, key)
    assert producer.flush(60) == 0


@contextmanager
def _cassandra(settings: Settings) -> Iterator[Session]:
    session = connect(settings, settings.keyspace)
    try:
        yield session
    finally:
        session.cluster.shutdown()


def _rows(session: Session) -> set[Row]:
    found = session.execute("SELECT entity_id, event_id, version, score FROM predictions", timeout=60)
    return {(r.entity_id, r.event_id, r.version, r.score) for r in found}


def _uncommitted(settings: Settings, group: str) -> int:
    """Events of the events topic that ``group`` has not committed past."""
    topic = settings.topic(STREAM, "events")
    consumer = Consumer({**settings.kafka_config(), "group.id": group, "enable.auto.commit": False})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        committed = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
        behind = 0
        for tp in committed:
            _, high = consumer.get_watermark_offsets(tp, timeout=10)
            behind += high - max(tp.offset, 0)
        return behind
    finally:
        consumer.close()


def _tail(log_path: Path) -> str:
    return log_path.read_text(errors="replace")[-4000:]


FaustApp = tuple[str, subprocess.Popen[bytes], Path]  # its id (the consumer group), the process, its log


StartFaustApp = Callable[..., FaustApp]


@pytest.fixture
def start_faust_app(pipeline_settings: Settings, tmp_path: Path) -> Iterator[StartFaustApp]:
    """Starts a faust app as `faust -A <module> worker` runs it (the docs' example by default), with ``env``
    added to its environment; stopped with SIGTERM."""
    started: list[subprocess.Popen[bytes]] = []

    def start(module: str = "docs.examples.faust_app", **env: str) -> FaustApp:
        app_id = f"{pipeline_settings.topic_prefix}faust-{uuid.uuid4().hex[:6]}"
        log_path = tmp_path / "faust.log"
        environment = {
            **worker_env(pipeline_settings),
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "EXAMPLE_APP_ID": app_id,
            "EXAMPLE_STREAM": STREAM,
            **env,
        }
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [FAUST, "-A", module, "worker", "--without-web", "-l", "info"],
                env=environment,
                cwd=tmp_path,  # faust keeps its data directory in the working directory
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        started.append(process)
        return app_id, process, log_path

    yield start
    for process in started:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_a_faust_app_writes_the_rows_and_dead_letters_the_worker_writes(
    pipeline_settings: Settings,
    registered: list[ModelVersion],
    run_worker: RunWorker,
    start_faust_app: StartFaustApp,
) -> None:
    settings = pipeline_settings
    events = settings.topic(STREAM, "events")
    codec = AvroCodec(open_store(settings), events, schema_name(STREAM, "events"))
    records = TransactionGenerator(seed=31).generate(300).records
    values = [(r["entity_id"].encode(), codec.encode(r)) for r in records]
    malformed = [
        (b"junk", b"not an Avro record"),  # no magic byte
        (b"unknown", b"\x00\x7f\xff\xff\xf0" + values[0][1][5:]),  # a schema id no registry knows
        (b"bad-id", codec.encode({**records[1], "entity_id": "spaces are not allowed"}, check=False)),
    ]
    for index, bad in zip((10, 150, 290), malformed, strict=True):
        values.insert(index, bad)
    _produce(settings, values)

    stats = run_worker(idle_exit_s=4.0)
    assert (stats.scored, stats.dead_lettered) == (300, 3)
    with _cassandra(settings) as session:
        worker_rows = _rows(session)
        assert len(worker_rows) == 300
        session.execute("TRUNCATE predictions", timeout=60)  # the faust app writes the same keys: its own rows

        app_id, process, log_path = start_faust_app()
        deadline = time.monotonic() + GIVE_UP_S
        while time.monotonic() < deadline:
            assert process.poll() is None, f"the faust app exited ({process.returncode}):\n{_tail(log_path)}"
            if len(_rows(session)) >= len(worker_rows) and _uncommitted(settings, app_id) == 0:
                break
            time.sleep(2.0)
        else:
            pytest.fail(f"the faust app did not score and commit every event:\n{_tail(log_path)}")
        faust_rows = _rows(session)

    assert faust_rows == worker_rows  # same entities, events, version and scores
    letters = [DeadLetter.from_message(m) for m in read_topic(settings, settings.topic(STREAM, "dead-letters"), 6)]
    by_consumer: dict[str | None, dict[tuple[int, int], str]] = {}
    for letter in letters:
        by_consumer.setdefault(letter.consumer, {})[(letter.source_partition, letter.source_offset)] = letter.reason
    worker_group = WorkerConfig(STREAM, "fraud").group
    assert set(by_consumer) == {worker_group, app_id}
    assert len(by_consumer[app_id]) == 3
    assert by_consumer[app_id] == by_consumer[worker_group]  # same events, same reasons
    predictions = read_topic(settings, settings.topic(STREAM, "predictions"), 600)
    assert len(predictions) == 600  # each scored event's record, from the worker and from the app


REFUSING_APP = "tests.integration.pipeline.faust_refusing_app"


def test_a_batch_the_agent_could_not_deliver_is_never_committed(
    pipeline_settings: Settings, start_faust_app: StartFaustApp, tmp_path: Path
) -> None:
    # faust's own take() acknowledges a batch even when the agent raises: this app's delivery always raises
    # ConfigError, which must crash the app with nothing committed.
    settings = pipeline_settings
    _produce(settings, [(f"k{i}".encode(), f"event {i}".encode()) for i in range(50)])
    journal = tmp_path / "journal"
    app_id, process, log_path = start_faust_app(REFUSING_APP, REFUSE="config", JOURNAL=str(journal))
    try:
        process.wait(GIVE_UP_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the app did not stop on a ConfigError:\n{_tail(log_path)}")
    assert journal.read_text().split("\n")[0] == "refused"
    assert process.returncode != 0, _tail(log_path)
    assert _uncommitted(settings, app_id) == 50


def test_a_delivery_that_fails_for_a_while_is_retried_then_committed(
    pipeline_settings: Settings, start_faust_app: StartFaustApp, tmp_path: Path
) -> None:
    settings = pipeline_settings
    _produce(settings, [(f"k{i}".encode(), f"event {i}".encode()) for i in range(50)])
    journal = tmp_path / "journal"
    app_id, process, log_path = start_faust_app(REFUSING_APP, REFUSE="retryable", JOURNAL=str(journal))
    deadline = time.monotonic() + GIVE_UP_S
    while _uncommitted(settings, app_id) > 0:
        assert process.poll() is None, f"the faust app exited ({process.returncode}):\n{_tail(log_path)}"
        assert time.monotonic() < deadline, f"the app did not commit every event:\n{_tail(log_path)}"
        time.sleep(1.0)
    attempts = journal.read_text().split()
    # Retried in place: an agent restarted by faust would wire a new scorer, refusing three times more.
    assert attempts[:3] == ["refused"] * 3
    assert set(attempts[3::2]) == {"delivered"}
    assert sum(int(n) for n in attempts[4::2]) == 50
