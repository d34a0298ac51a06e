"""The Cassandra driver tries a lost node again within seconds, for as long as it takes; each try is bounded."""

from __future__ import annotations

from itertools import islice
from typing import Any

import pytest

import scorecast.cassandra
from scorecast.cassandra import connect, reconnection_policy
from scorecast.settings import Settings


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The keyword arguments ``connect`` gives the driver's Cluster (a double: nothing is contacted)."""
    seen: dict[str, Any] = {}

    class ClusterDouble:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            seen.update(kwargs)

        def connect(self, keyspace: str | None) -> str:
            return "session"

    monkeypatch.setattr(scorecast.cassandra, "Cluster", ClusterDouble)
    return seen


def test_reconnection_delays_are_capped_at_two_seconds_and_never_give_up() -> None:
    delays = list(islice(reconnection_policy().new_schedule(), 10_000))
    assert len(delays) == 10_000  # the driver's default stops after 64 attempts
    assert max(delays) <= 2.0
    assert delays[0] < 1.0
    assert sum(delays[:5]) < 10.0  # a return is noticed within seconds, not minutes


def test_connect_gives_the_cluster_that_policy(seen: dict[str, Any]) -> None:
    connect(Settings())
    schedule = list(islice(seen["reconnection_policy"].new_schedule(), 100))
    assert len(schedule) == 100
    assert max(schedule) <= 2.0


def test_connect_bounds_each_connection_attempt_by_the_setting(seen: dict[str, Any]) -> None:
    connect(Settings(cassandra_connect_timeout_s=1.5))
    assert seen["connect_timeout"] == 1.5
    assert Settings().cassandra_connect_timeout_s == 5.0  # the driver's own default, now explicit
