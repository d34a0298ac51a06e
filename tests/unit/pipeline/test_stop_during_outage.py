"""A stop (SIGTERM) while a batch waits out an outage ends the consumer promptly and commits nothing of the batch:
its records are read again after the restart, so nothing is lost and the pod never outlives its grace period."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from confluent_kafka import Message

import scorecast.batch_consumer
from scorecast.batch_consumer import BatchConsumer, ConsumerConfig, Deliver
from scorecast.errors import RetryableError
from scorecast.process import StopRequestedError
from scorecast.settings import Settings
from tests.unit.pipeline.consumer_double import ConsumerDouble, batch

GENEROUS_S = 10.0  # far below the outage windows (schema registry: SCORECAST_SCHEMA_REGISTRY_OUTAGE_S, 120 s)


def _consumer(monkeypatch: pytest.MonkeyPatch) -> tuple[BatchConsumer, ConsumerDouble]:
    monkeypatch.setattr(scorecast.batch_consumer, "Consumer", ConsumerDouble)
    ConsumerDouble.script = [lambda _: batch((0, 0), (0, 1)), lambda _: batch((1, 0))]
    consumer = BatchConsumer(Settings(topic_prefix="unit."), ConsumerConfig(group="unit", topics=("unit.events",)))
    double: ConsumerDouble = consumer._consumer  # type: ignore[assignment]
    return consumer, double


def test_a_stop_while_decoding_waits_for_the_registry_abandons_the_batch_uncommitted(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    consumer, double = _consumer(monkeypatch)
    stop = threading.Event()

    def handle(messages: list[Message]) -> Deliver:
        if messages[0].partition() == 1:  # the second batch meets a writer id while the registry is down
            stop.set()
            raise StopRequestedError("stopped while waiting for schema id 7")
        return lambda: None

    with caplog.at_level(logging.WARNING, logger="scorecast.batch_consumer"):
        stats = consumer.run(handle, stop)
    assert double.committed == {0: 2}  # the first batch only; partition 1's record is read again
    assert stats.batches == 1
    assert [r.getMessage() for r in caplog.records if "uncommitted" in r.getMessage()] == [
        "stopped while waiting for schema id 7; the batch in hand is left uncommitted and read again after the restart"
    ]


def test_a_stop_during_a_sink_outage_ends_the_retries_at_once_and_commits_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    consumer, double = _consumer(monkeypatch)
    stop = threading.Event()
    tries = 0

    def handle(messages: list[Message]) -> Deliver:
        def deliver() -> None:
            nonlocal tries
            tries += 1
            raise RetryableError("Cassandra unreachable")  # an outage that never ends

        return deliver

    timer = threading.Timer(0.3, stop.set)
    timer.start()
    started = time.monotonic()
    try:
        with pytest.raises(RetryableError):
            consumer.run(handle, stop)
    finally:
        timer.cancel()
    assert time.monotonic() - started < GENEROUS_S
    assert tries >= 2
    assert double.committed == {}
