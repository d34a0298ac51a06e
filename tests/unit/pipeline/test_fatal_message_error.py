"""A fenced static member's error as consume() really returns it: code _FATAL, the fatal flag not set.

The consumer took that for an ordinary message error, logged it and consumed nothing for ever.
"""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, Message

from scorecast.errors import ConfigError
from tests.unit.pipeline.consumer_double import ConsumerDouble, batch, run


def test_a_fatal_coded_message_error_without_the_flag_ends_the_consumer(monkeypatch: pytest.MonkeyPatch) -> None:
    fenced = KafkaError(KafkaError._FATAL, "Fatal error: Broker: Static consumer fenced by other consumer")
    assert not fenced.fatal()

    def fenced_on_rejoin(double: ConsumerDouble) -> list[Message]:
        return [Message(error=fenced)]

    with pytest.raises(ConfigError, match="fenced"):
        run(monkeypatch, [lambda _: batch((0, 0)), fenced_on_rejoin, *[lambda _: []] * 1000])
