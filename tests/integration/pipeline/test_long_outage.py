"""A sink down for longer than ``max.poll.interval.ms``, against the real Kafka: the consumer keeps polling with
its partitions paused while the batch in hand is retried, so the group keeps the member, nothing is consumed
meanwhile, and once the sink is back every message is delivered exactly once (before: the member was dropped for
not polling, and the batch in hand was redone after its rejoin)."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from confluent_kafka import Message, Producer

from scorecast.batch_consumer import BATCHES_IN_HAND, BatchConsumer, ConsumerConfig, Deliver
from scorecast.errors import RetryableError
from scorecast.settings import Settings

N = 60
# The broker's smallest session timeout (group.min.session.timeout.ms) and the smallest poll interval above it.
SESSION_MS, POLL_INTERVAL_MS = 6_000, 7_000
OUTAGE_S = 12.0  # longer than the poll interval


class FlakySink:
    """Refuses every write for ``OUTAGE_S`` after the first one, then takes them; records what it took."""

    def __init__(self) -> None:
        self.taken: Counter[tuple[int, int]] = Counter()
        self.first_write: float | None = None
        self.refused = 0
        self.handled_while_down = 0

    def handle(self, messages: list[Message]) -> Deliver:
        if self.down():
            self.handled_while_down += 1  # a batch taken while the batch in hand could not be written

        def deliver() -> None:
            self.first_write = self.first_write or time.monotonic()
            if self.down():
                self.refused += 1
                raise RetryableError("sink down")
            self.taken.update((m.partition() or 0, m.offset() or 0) for m in messages)

        return deliver

    def down(self) -> bool:
        return self.first_write is not None and time.monotonic() - self.first_write < OUTAGE_S


def produce(settings: Settings, topic: str) -> None:
    producer = Producer(settings.kafka_config())
    for i in range(N):
        producer.produce(topic, value=f"m{i}".encode(), partition=i % 2)
    assert producer.flush(30) == 0


@pytest.mark.parametrize("overlap", [False, True], ids=["serial", "overlapped"])
def test_an_outage_longer_than_the_poll_interval_keeps_the_member_and_redoes_nothing(
    settings: Settings, overlap: bool
) -> None:
    topic = settings.topic("transactions", "events")
    produce(settings, topic)
    sink = FlakySink()
    stats = BatchConsumer(settings, config(topic, overlap)).run(sink.handle, threading.Event(), idle_exit_s=4.0)
    assert sink.refused > 1
    assert sink.handled_while_down <= overlap  # overlapped, the next batch is handled while one is written
    assert set(sink.taken) == {(i % 2, i // 2) for i in range(N)}
    assert max(sink.taken.values()) == 1, "a batch was delivered twice: the member was dropped and rejoined"
    assert stats.messages == N


def test_a_partition_moved_during_the_outage_is_redone_by_its_new_owner_and_never_committed_by_the_old(
    settings: Settings,
) -> None:
    """A second member joins while the first retries: one partition moves to it (cooperative-sticky). Its new
    owner starts at the last commit; the old owner's batch in hand commits nothing of that partition, so what is
    redone is at most that batch, and nothing is skipped."""
    topic = settings.topic("transactions", "events")
    produce(settings, topic)
    down, up = FlakySink(), FlakySink()
    up.first_write = time.monotonic() - OUTAGE_S  # never down

    def join_later() -> None:
        time.sleep(3.0)
        BatchConsumer(settings, config(topic, True)).run(up.handle, threading.Event(), idle_exit_s=OUTAGE_S + 6.0)

    joined = threading.Thread(target=join_later)
    joined.start()
    stats = BatchConsumer(settings, config(topic, True)).run(down.handle, threading.Event(), idle_exit_s=4.0)
    joined.join()
    taken = down.taken + up.taken
    assert set(taken) == {(i % 2, i // 2) for i in range(N)}
    assert up.taken, "the member that joined got no partition"
    assert sum(taken.values()) - N <= BATCHES_IN_HAND * 10  # redone: at most what the first member held
    assert stats.partitions


def config(topic: str, overlap: bool) -> ConsumerConfig:
    return ConsumerConfig(group="outage", topics=(topic,), batch_max=10, session_timeout_ms=SESSION_MS,
                          max_poll_interval_ms=POLL_INTERVAL_MS, overlap=overlap)  # fmt: skip
