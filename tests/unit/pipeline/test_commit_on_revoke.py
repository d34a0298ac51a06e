"""What a rebalance does to commits: a refused commit is sent again, and revoked partitions are committed first.

The consumer double (consumer_double.py) answers asynchronous commits at the next consume, refuses them while
told to, and calls ``on_revoke`` from inside ``consume``.
"""

from __future__ import annotations

import pytest
from confluent_kafka import Message

from tests.unit.pipeline.consumer_double import ConsumerDouble, batch, run


def test_partitions_revoked_after_a_refused_commit_are_committed_before_they_move(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def rebalance_starts(double: ConsumerDouble) -> list[Message]:
        double.refusing = True  # the coordinator is rebalancing: the batch's commit will be refused
        return batch((0, 0), (0, 1), (0, 2), (1, 0))

    def partition_0_moves(double: ConsumerDouble) -> list[Message]:
        double.revoke(0)
        return []

    double = run(monkeypatch, [rebalance_starts, partition_0_moves])
    # Its next owner starts after the delivered messages instead of redoing them.
    assert double.committed_at_revoke.get(0) == 3


def test_a_refused_commit_is_sent_again_with_the_next_one(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(double: ConsumerDouble) -> list[Message]:
        double.refusing = True
        return batch((0, 0), (1, 0), (1, 1))

    def accepted(double: ConsumerDouble) -> list[Message]:
        double.refusing = False
        return batch((0, 1))  # nothing new on partition 1

    double = run(monkeypatch, [refused, accepted])
    assert double.committed == {0: 2, 1: 2}
