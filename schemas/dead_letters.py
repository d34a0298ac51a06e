"""The dead-letter convention every consumer follows: a message it cannot process goes to ``<stream>.dead-letters``.

The dead letter keeps the original key and value bytes unchanged (so it can be re-driven by copying it back to
its source topic, with any Kafka tool) and the original headers (trace context included), and adds headers:

    scorecast.dlq.reason            short code, e.g. undecodable, unknown-schema-id, non-finite-feature
    scorecast.dlq.error             human-readable detail
    scorecast.dlq.error.class       class of the error, e.g. ValueError or DecodeFailure
    scorecast.dlq.source.topic / .source.partition / .source.offset
    scorecast.dlq.failed_at         epoch milliseconds
    scorecast.dlq.consumer          the component or consumer group that gave up
    scorecast.dlq.truncated         only on a copy cut to fit the topic's size limit: "value"
    scorecast.dlq.original.size     with it: the original value's size in bytes

The value is deliberately not wrapped in the Avro dead-letter record (schemas/avro/dead-letters.avsc): that
would double every payload and stop plain re-drives. The record is the typed view of a dead letter, built from
headers + value by ``DeadLetter.from_message`` for reports and exports. A consumer must ``flush`` the sink
before committing the source offset, or a crash could lose the message. A copy too large for the topic is cut
(value first) and marked, so it is delivered instead of refused forever; re-drive it from the source offset.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from confluent_kafka import Message

from schemas.errors import SchemaError
from scorecast.errors import PermanentError, RetryableError
from scorecast.io.producer import DeliveryError, KafkaProducer
from scorecast.settings import Settings

PREFIX = "scorecast.dlq."
TRUNCATED = PREFIX + "truncated"  # what was cut to fit the topic's size limit ("value")
ORIGINAL_SIZE = PREFIX + "original.size"  # the original value's size in bytes
# librdkafka's default message.max.bytes, less room for the record batch's own framing.
MESSAGE_MAX_BYTES = 1_000_000 - 1_024
_SMALLEST = 1_024  # no smaller budget is tried: the headers alone take about this much

log = logging.getLogger(__name__)


def header_pairs(message: Message) -> list[tuple[str, str | bytes | None]]:
    headers = message.headers() or []
    return list(headers.items()) if isinstance(headers, dict) else list(headers)


class DeadLetterError(SchemaError, RetryableError):
    """A dead letter could not be delivered: the source offset must not be committed."""


@dataclass(frozen=True)
class DeadLetter:
    reason: str
    error: str
    error_class: str
    source_topic: str
    source_partition: int
    source_offset: int
    original_key: bytes | None
    original_value: bytes | None
    failed_at: int
    consumer: str | None = None

    @classmethod
    def of(
        cls,
        message: Message,
        reason: str,
        error: BaseException | str,
        consumer: str | None = None,
        error_class: str = "",
    ) -> DeadLetter:
        return cls(
            reason=reason,
            error=str(error),
            error_class=error_class or (type(error).__name__ if isinstance(error, BaseException) else "str"),
            source_topic=message.topic() or "",
            source_partition=message.partition() or 0,
            source_offset=message.offset() or 0,
            original_key=message.key(),
            original_value=message.value(),
            failed_at=int(time.time() * 1000),
            consumer=consumer,
        )

    def headers(self) -> list[tuple[str, str | bytes | None]]:
        fields = {
            "reason": self.reason,
            "error": self.error,
            "error.class": self.error_class,
            "source.topic": self.source_topic,
            "source.partition": str(self.source_partition),
            "source.offset": str(self.source_offset),
            "failed_at": str(self.failed_at),
            "consumer": self.consumer,
        }
        return [(PREFIX + k, v.encode()) for k, v in fields.items() if v is not None]

    def to_record(self) -> dict[str, Any]:
        """The record of schemas/avro/dead-letters.avsc."""
        return asdict(self)

    @classmethod
    def from_message(cls, message: Message) -> DeadLetter:
        """Read a message of a dead-letter topic back (raises SchemaError if it lacks the headers)."""
        found = {
            k.removeprefix(PREFIX): v.decode() if isinstance(v, bytes) else v
            for k, v in header_pairs(message)
            if k.startswith(PREFIX) and v is not None
        }
        try:
            return cls(
                reason=found["reason"],
                error=found.get("error", ""),
                error_class=found.get("error.class", ""),
                source_topic=found["source.topic"],
                source_partition=int(found["source.partition"]),
                source_offset=int(found["source.offset"]),
                original_key=message.key(),
                original_value=message.value(),
                failed_at=int(found["failed_at"]),
                consumer=found.get("consumer"),
            )
        except (KeyError, ValueError) as error:
            raise SchemaError(f"not a scorecast dead letter: missing or bad header {error}") from error


class DeadLetterSink:
    """Sends dead letters of one stream; ``flush`` raises DeadLetterError if any was not delivered.

    A dead letter over ``max_bytes`` (librdkafka's ``message.max.bytes``) is cut to fit and marked
    (``TRUNCATED``); one the topic still refuses permanently (its ``max.message.bytes`` is lower) is sent
    again at half the size, down to ``_SMALLEST``, then dropped with an error log: retrying cannot help, and
    the source partition must not stop for it. A full producer queue waits a bounded time (the producer's).
    """

    def __init__(
        self,
        settings: Settings,
        stream: str,
        consumer: str,
        producer: KafkaProducer | None = None,
        max_bytes: int = MESSAGE_MAX_BYTES,
    ) -> None:
        self.topic = settings.topic(stream, "dead-letters")
        self.consumer = consumer
        self.max_bytes = max_bytes
        self._producer = producer or KafkaProducer(settings, {"enable.idempotence": True})
        self.sent = 0
        self.truncated = 0
        self.dropped = 0
        self.failed: list[str] = []

    def send(self, message: Message, reason: str, error: BaseException | str, error_class: str = "") -> DeadLetter:
        """Queue the dead letter of ``message``; RetryableError if the producer's queue stays full."""
        letter = DeadLetter.of(message, reason, error, self.consumer, error_class)
        original = [(k, v) for k, v in header_pairs(message) if not k.startswith(PREFIX)]
        self._send(_Letter(letter.original_key, letter.original_value, [*original, *letter.headers()]), self.max_bytes)
        self.sent += 1
        return letter

    def send_failures(self, messages: Sequence[Message], failures: Sequence[Any]) -> list[DeadLetter]:
        """Dead-letter the messages named by the ``DecodeFailure``s of a batch decode of ``messages``."""
        return [self.send(messages[f.position], f.reason, f.detail, "DecodeFailure") for f in failures]

    def flush(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            failed_before = self._producer.report.failed
            try:
                self._producer.flush(max(0.0, deadline - time.monotonic()))
                break
            except DeliveryError as error:
                smaller = self._settle(error, error.report.failed - failed_before)
            if not smaller:
                break
            for letter in smaller:  # the topic refused the size: halve the budget until it fits
                self._send(letter, letter.size() // 2)
        if self.failed:
            raise DeadLetterError(f"{len(self.failed)} dead letters to {self.topic} not delivered: {self.failed[0]}")

    def _send(self, letter: _Letter, budget: int) -> None:
        while True:
            letter = letter.within(budget)
            try:
                self._producer.produce(self.topic, letter.value, letter.key, headers=letter.headers, tag=letter)
                break
            except PermanentError as error:  # over the client's message.max.bytes, or refused outright
                if budget <= _SMALLEST:
                    self._drop(letter, error)
                    return
                budget = min(budget, letter.size()) // 2
        if letter.truncated_from is not None:
            self.truncated += 1
        self._producer.poll(0)

    def _settle(self, error: DeliveryError, failed: int) -> list[_Letter]:
        """Sort a flush's failures: permanent ones to send again smaller (or drop), the rest to fail the flush."""
        smaller: list[_Letter] = []
        for failure in error.failures:
            letter = failure.tag
            if not isinstance(failure.error, PermanentError) or not isinstance(letter, _Letter):
                self.failed.append(failure.reason)
            elif letter.size() <= _SMALLEST:
                self._drop(letter, failure.error)
            else:
                smaller.append(letter)
        if len(error.failures) < failed:  # some were counted but not kept: they cannot be told apart
            self.failed.append(str(error))
        return smaller

    def _drop(self, letter: _Letter, error: PermanentError) -> None:
        self.dropped += 1
        source = {k: v for k, v in letter.headers if k.startswith(PREFIX + "source.")}
        log.error("dead letter refused permanently by %s and dropped (%s); source %s", self.topic, error, source)


@dataclass(frozen=True)
class _Letter:
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, str | bytes | None]]
    truncated_from: int | None = None  # the original value's size, once truncated

    def size(self) -> int:
        headers = sum(len(k) + len(v or b"") for k, v in self.headers)
        return len(self.key or b"") + len(self.value or b"") + headers

    def within(self, budget: int) -> _Letter:
        """This letter, its value (then key) cut so the whole fits ``budget`` bytes, marked if cut."""
        if self.size() <= budget:
            return self
        original = self.truncated_from if self.truncated_from is not None else len(self.value or b"")
        marks: list[tuple[str, str | bytes | None]] = [
            (TRUNCATED, b"value"),
            (ORIGINAL_SIZE, str(original).encode()),
        ]
        headers = [(k, v) for k, v in self.headers if k not in (TRUNCATED, ORIGINAL_SIZE)] + marks
        fixed = sum(len(k) + len(v or b"") for k, v in headers) + len(self.key or b"")
        value = (self.value or b"")[: max(0, budget - fixed)]
        key = self.key if fixed <= budget else (self.key or b"")[: max(0, budget - fixed + len(self.key or b""))]
        return _Letter(key, value, headers, original)
