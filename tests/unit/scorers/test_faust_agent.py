"""The faust adapter's own logic: records handed to the scorer's sinks unchanged, and delivery settled as the
BatchConsumer settles it (retried in place, bisected down to a record refused for good)."""

from __future__ import annotations

import asyncio

import pytest
from confluent_kafka import Message
from faust.types.tuples import Message as FaustMessage

from schemas.dead_letters import DeadLetter
from scorecast.batch_consumer import Deliver, RetryLog
from scorecast.errors import ConfigError, PermanentError, RetryableError
from scorers.faust_agent import _message, _settle


def _record(headers: list[tuple[str, bytes]] | dict[str, bytes] | None) -> FaustMessage:
    return FaustMessage("s.events", 3, 41, 0.0, 0, headers, b"entity-1", b"\x00raw", None)


@pytest.mark.parametrize("headers", [[("traceparent", b"00-ab")], {"traceparent": b"00-ab"}])
def test_a_record_keeps_its_coordinates_raw_bytes_and_headers(headers: object) -> None:
    message = _message(_record(headers))  # type: ignore[arg-type]
    assert (message.topic(), message.partition(), message.offset()) == ("s.events", 3, 41)
    assert (message.key(), message.value()) == (b"entity-1", b"\x00raw")
    assert message.headers() == [("traceparent", b"00-ab")]
    letter = DeadLetter.of(message, "undecodable", "bad")
    assert (letter.source_topic, letter.source_partition, letter.source_offset) == ("s.events", 3, 41)
    assert letter.original_value == b"\x00raw"


def test_a_record_without_headers_has_none() -> None:
    assert _message(_record(None)).headers() is None


def _messages(n: int) -> list[Message]:
    return [Message(topic="t", partition=0, offset=i, value=b"v") for i in range(n)]


class _Sink:
    """Refuses any batch holding ``poison`` for good, and fails the first ``outages`` deliveries retryably."""

    def __init__(self, poison: int | None = None, outages: int = 0, error: type[Exception] = RetryableError):
        self.poison = poison
        self.outages = outages
        self.error = error
        self.delivered: list[int] = []
        self.attempts = 0

    def handle(self, messages: list[Message]) -> Deliver:
        def deliver() -> None:
            self.attempts += 1
            if self.outages > 0:
                self.outages -= 1
                raise self.error("down")
            offsets = [m.offset() or 0 for m in messages]
            if self.poison in offsets:
                raise PermanentError("refused")
            self.delivered += offsets

        return deliver


def test_a_batch_refused_for_good_is_bisected_down_to_its_bad_record() -> None:
    sink = _Sink(poison=5)
    asyncio.run(_settle(sink.handle, _messages(8), RetryLog("delivery")))
    assert sorted(sink.delivered) == [0, 1, 2, 3, 4, 6, 7]


def test_a_retryable_failure_is_retried_until_delivery_works() -> None:
    sink = _Sink(outages=2)
    asyncio.run(_settle(sink.handle, _messages(4), RetryLog("delivery")))
    assert sink.delivered == [0, 1, 2, 3]
    assert sink.attempts == 3


def test_a_config_error_is_not_retried() -> None:
    sink = _Sink(outages=5, error=ConfigError)
    with pytest.raises(ConfigError):
        asyncio.run(_settle(sink.handle, _messages(4), RetryLog("delivery")))
    assert sink.attempts == 1
