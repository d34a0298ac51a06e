"""The dead-letter convention every consumer follows: a message it cannot process goes to ``<stream>.dead-letters``.

The dead letter keeps the original key and value bytes unchanged (so it can be re-driven by copying it back to
its source topic, with any Kafka tool) and the original headers (trace context included), and adds headers:

    scorecast.dlq.reason            short code, e.g. undecodable, unknown-schema-id, non-finite-feature
    scorecast.dlq.error             human-readable detail
    scorecast.dlq.error.class       class of the error, e.g. ValueError or DecodeFailure
    scorecast.dlq.source.topic / .source.partition / .source.offset
    scorecast.dlq.failed_at         epoch milliseconds
    scorecast.dlq.consumer          the component or consumer group that gave up

The value is deliberately not wrapped in the Avro dead-letter record (schemas/avro/dead-letters.avsc): that
would double every payload and stop plain re-drives. The record is the typed view of a dead letter, built from
headers + value by ``DeadLetter.from_message`` for reports and exports. A consumer must ``flush`` the sink
before committing the source offset, or a crash could lose the message.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from schemas.errors import SchemaError
from scorecast.settings import Settings

PREFIX = "scorecast.dlq."


def header_pairs(message: Message) -> list[tuple[str, str | bytes | None]]:
    headers = message.headers() or []
    return list(headers.items()) if isinstance(headers, dict) else list(headers)


class DeadLetterError(SchemaError):
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
    """Sends dead letters of one stream; ``flush`` raises DeadLetterError if any was not delivered."""

    def __init__(self, settings: Settings, stream: str, consumer: str, producer: Producer | None = None) -> None:
        self.topic = settings.topic(stream, "dead-letters")
        self.consumer = consumer
        self._producer = producer or Producer({**settings.kafka_config(), "enable.idempotence": True})
        self.sent = 0
        self.failed: list[str] = []

    def send(self, message: Message, reason: str, error: BaseException | str, error_class: str = "") -> DeadLetter:
        letter = DeadLetter.of(message, reason, error, self.consumer, error_class)
        original = [(k, v) for k, v in header_pairs(message) if not k.startswith(PREFIX)]
        self._producer.produce(
            self.topic,
            letter.original_value,
            letter.original_key,
            headers=[*original, *letter.headers()],
            on_delivery=self._delivered,
        )
        self._producer.poll(0)
        self.sent += 1
        return letter

    def send_failures(self, messages: Sequence[Message], failures: Sequence[Any]) -> list[DeadLetter]:
        """Dead-letter the messages named by the ``DecodeFailure``s of a batch decode of ``messages``."""
        return [self.send(messages[f.position], f.reason, f.detail, "DecodeFailure") for f in failures]

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self.failed.append(str(error))

    def flush(self, timeout: float = 30.0) -> None:
        if self._producer.flush(timeout) > 0:
            self.failed.append(f"dead letters still undelivered after {timeout}s")
        if self.failed:
            raise DeadLetterError(f"{len(self.failed)} dead letters to {self.topic} not delivered: {self.failed[0]}")
