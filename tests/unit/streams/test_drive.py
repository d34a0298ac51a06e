"""The stream processors' loop on the I/O layer's reader: ends handed to the processor, a fatal consumer error
ends the processor (it was logged as a warning and the processor idled without consuming)."""

from __future__ import annotations

import threading
from typing import cast

import pytest
from confluent_kafka import Consumer, KafkaError, Message

from scorecast.errors import ConfigError
from scorecast.io.testing import ConsumerDouble, end_of_partition, record
from scorecast.process import StopRequestedError
from streams.kafka import TP, drive


def run(double: ConsumerDouble, seen: list[tuple[list[int], list[TP]]], checkpoints: list[int]) -> None:
    def process(messages: list[Message], ends: list[TP], stop: threading.Event) -> None:
        seen.append(([m.offset() or 0 for m in messages], ends))

    drive(cast("Consumer", double), process, lambda: checkpoints.append(1), threading.Event(), 0.05, 60.0)


def test_records_and_ends_reach_the_processor_and_it_checkpoints_when_idle_exits() -> None:
    seen: list[tuple[list[int], list[TP]]] = []
    checkpoints: list[int] = []
    run(ConsumerDouble([[record(0, 0), record(0, 1)], [end_of_partition(0, 2)]]), seen, checkpoints)
    assert seen == [([0, 1], []), ([], [("t", 0)])]
    assert checkpoints == [1]


def test_a_fatal_consumer_error_ends_the_processor_instead_of_idling() -> None:
    fenced = KafkaError(KafkaError._FATAL, "Fatal error: Broker: Static consumer fenced by other consumer")
    seen: list[tuple[list[int], list[TP]]] = []
    checkpoints: list[int] = []
    with pytest.raises(ConfigError, match="fenced"):
        run(ConsumerDouble([[record(0, 0)], [Message(error=fenced)]]), seen, checkpoints)
    assert seen == [([0], [])]
    assert checkpoints == []  # a half-processed batch is never checkpointed


def test_a_stop_during_an_outage_ends_the_processor_quietly_without_the_last_checkpoint() -> None:
    """A stop that cut a wait for an unreachable schema registry short (StopRequestedError) ends the processor at
    once, like the scorer: no traceback, and no checkpoint of a batch that was never processed."""
    checkpoints: list[int] = []

    def process(messages: list[Message], ends: list[TP], stop: threading.Event) -> None:
        raise StopRequestedError("stopped while waiting for schema id 7: registry unreachable")

    double = ConsumerDouble([[record(0, 0)]])
    drive(cast("Consumer", double), process, lambda: checkpoints.append(1), threading.Event(), 0.05, 60.0)
    assert checkpoints == []
