"""A commit refused during a rebalance is sent again even when no further batch comes to carry it.

During a rebalance the coordinator refuses commits. Asynchronous commits let a worker that had caught up (no
next batch to carry the refused offsets) keep them uncommitted until it was killed: its partition's next owner
redid everything delivered since the last acknowledged commit.
"""

from __future__ import annotations

import pytest
from confluent_kafka import Message

import scorecast.batch_consumer
from scorecast.batch_consumer import BatchConsumer, ConsumerConfig, Deliver
from scorecast.settings import Settings
from tests.unit.pipeline.consumer_double import TOPIC, ConsumerDouble, Step, batch


def run(monkeypatch: pytest.MonkeyPatch, script: list[Step]) -> ConsumerDouble:
    monkeypatch.setattr(scorecast.batch_consumer, "Consumer", ConsumerDouble)
    ConsumerDouble.script = script
    config = ConsumerConfig(group="unit", topics=(TOPIC,), commit_retry_s=0.0)
    consumer = BatchConsumer(Settings(topic_prefix="unit."), config)

    def handle(messages: list[Message]) -> Deliver:
        return lambda: None

    double: ConsumerDouble = consumer._consumer  # type: ignore[assignment]
    consumer.run(handle, double.stop)
    return double


def test_a_refused_commit_is_sent_again_while_no_batch_comes(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[int, int] = {}

    def refused(double: ConsumerDouble) -> list[Message]:
        double.refusing = True  # the group is rebalancing: this batch's commit is refused
        return batch((0, 0), (0, 1), (1, 0))

    def rebalance_over(double: ConsumerDouble) -> list[Message]:
        double.refusing = False
        return []  # caught up: no batch brings the refused offsets along

    def killed_now(double: ConsumerDouble) -> list[Message]:
        seen.update(double.committed)  # what the next owner would start from after a kill -9 here
        return []

    def nothing(double: ConsumerDouble) -> list[Message]:
        return []

    # take_batch consumes twice when the first finds nothing: the idle loop runs after `nothing`.
    run(monkeypatch, [refused, rebalance_over, nothing, killed_now])
    assert seen == {0: 2, 1: 1}
