"""The rollout observer's Kafka reads on real Kafka, through the I/O layer's bounded reader.

Dead letters: the old loop took ``consume(5000, 5.0)``, which waits its whole timeout for a short batch, and
stopped at the first empty wait, so a tick cost at least 5 s and a topic ending in a transaction marker (no record
at its last offset) 10 s; a broker slower than that was a silently partial count. Labels: end-of-partition is
reported once per end, so a poll with nothing new on some partition waited out its whole budget.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from cassandra.cluster import Session
from confluent_kafka import Consumer, Producer, TopicPartition

from scorecast.cassandra import connect
from scorecast.settings import Settings
from scorers.rollouts.observe import LabelFeed, Observer
from tests.integration.rollouts.test_label_feed import labels
from tests.integration.streams.conftest import STREAM, produce

_SOURCE = "scorecast.dlq.source.topic"


@pytest.fixture
def keyspace_session(settings: Settings) -> Iterator[Session]:
    session = connect(settings, settings.keyspace)
    yield session
    session.cluster.shutdown()


def dead_letters_in_transactions(settings: Settings, sources: list[str], abort: bool) -> None:
    producer = Producer({**settings.kafka_config(), "transactional.id": f"test-{uuid.uuid4()}"})
    producer.init_transactions(30)
    producer.begin_transaction()
    topic = settings.topic(STREAM, "dead-letters")
    for i, source in enumerate(sources):
        producer.produce(topic, b"x", f"card-{i}".encode(), headers=[(_SOURCE, source.encode())])
    if abort:
        producer.abort_transaction(30)  # its records stay in the log, never delivered to read_committed readers
    else:
        producer.commit_transaction(30)  # a commit marker after them: no record at the topic's last offset
    settled(settings, topic)


def settled(settings: Settings, topic: str, timeout_s: float = 20.0) -> None:
    """Wait until the transaction's markers are written: the coordinator writes them after it answers, and
    until then a read_committed reader's end (the last stable offset) stops before the transaction."""
    readers = [
        Consumer({**settings.kafka_config(), "group.id": f"lso-{uuid.uuid4()}", "isolation.level": level})
        for level in ("read_committed", "read_uncommitted")
    ]
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            partitions = [TopicPartition(topic, p) for p in range(settings.topic_partitions)]
            stable, high = ([c.get_watermark_offsets(tp, timeout=10)[1] for tp in partitions] for c in readers)
            if stable == high or time.monotonic() > deadline:
                assert stable == high, f"transaction markers not written within {timeout_s:g}s"
                return
            time.sleep(0.05)
    finally:
        for c in readers:
            c.close()


def test_dead_letters_ending_in_transaction_markers_are_counted_without_waiting(
    settings: Settings, keyspace_session: Session
) -> None:
    shadow, events = settings.topic(STREAM, "shadow"), settings.topic(STREAM, "events")
    since_ms = int(time.time() * 1000)
    dead_letters_in_transactions(settings, [shadow, events, events], abort=False)
    dead_letters_in_transactions(settings, [shadow] * 5, abort=True)
    observer = Observer(settings, keyspace_session, STREAM, read_labels=False)
    started = time.monotonic()
    counts = observer.dead_letters(since_ms, int(time.time() * 1000) + 1)
    elapsed = time.monotonic() - started
    assert counts == (1, 2)
    assert elapsed < 4.0, f"{elapsed:.1f}s: waited for a record at a marker's offset"


def test_each_tick_reads_only_the_dead_letters_written_since_the_previous_one(
    settings: Settings, keyspace_session: Session
) -> None:
    shadow, events = settings.topic(STREAM, "shadow"), settings.topic(STREAM, "events")
    since_ms = int(time.time() * 1000)
    dead_letters_in_transactions(settings, [shadow, events, events], abort=False)
    observer = Observer(settings, keyspace_session, STREAM, read_labels=False)
    try:
        # stamped at or after the tick's time: read now, counted by the tick that passes them
        assert observer.dead_letters(since_ms, since_ms) == (0, 0)
        assert observer.dead_letters(since_ms, int(time.time() * 1000) + 1) == (1, 2)
        dead_letters_in_transactions(settings, [shadow, shadow], abort=False)
        assert observer.dead_letters(since_ms, int(time.time() * 1000) + 1) == (3, 2)
        counter = observer._dead_letters
        assert counter is not None
        assert counter.read == 5  # each letter read once, not once per tick since the stage's start
    finally:
        observer.close()


def test_a_label_poll_with_nothing_new_does_not_wait_out_its_budget(settings: Settings) -> None:
    produce(settings, "labels", labels(0, 50, int(time.time() * 1000)))
    feed = LabelFeed(settings, STREAM, since_ms=0)
    try:
        assert len(feed.poll(budget_s=30.0).event_ids) == 50
        started = time.monotonic()
        again = feed.poll(budget_s=30.0)
        elapsed = time.monotonic() - started
        assert again.event_ids == []
        assert sorted(again.caught_up) == feed.partitions  # caught up: the label join's watermark moves on
        assert elapsed < 10.0, f"{elapsed:.1f}s: waited for an end-of-partition that is reported once"
    finally:
        feed.close()
