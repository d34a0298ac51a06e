"""Settings: environment parsing, the round trip to a child process's environment, group names."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from scorecast.settings import Settings


def test_environment_round_trips_through_a_child_processs_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    original = Settings(
        cassandra_hosts=["10.0.0.1", "10.0.0.2"],
        cassandra_password=SecretStr("s3cret"),
        topic_prefix="team-a.",
        onnx_device="cpu",
    )
    for name, value in original.environment().items():
        monkeypatch.setenv(name, value)
    assert Settings() == original


def test_hosts_parse_from_a_comma_separated_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCORECAST_CASSANDRA_HOSTS", " a, b ,c")
    assert Settings().cassandra_hosts == ["a", "b", "c"]


def test_secrets_are_never_printed() -> None:
    assert "s3cret" not in repr(Settings(cassandra_password=SecretStr("s3cret")))


def test_consumer_groups_carry_the_topic_prefix() -> None:
    settings = Settings(topic_prefix="team-a.")
    assert settings.group_id("scorecast.transactions.events.fraud.champion").startswith("team-a.")
    assert settings.topic("transactions", "events") == "team-a.transactions.events"
