"""Reading a test's topic back from the beginning, with a plain confluent-kafka consumer."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, Message

from scorecast.settings import Settings


def read_topic(settings: Settings, topic: str, expected: int, timeout_s: float = 60.0) -> list[Message]:
    """Every message of ``topic`` once ``expected`` have arrived (or the timeout passed), then a short quiet
    period, so that more than expected would be seen too."""
    consumer = Consumer(
        {
            **settings.kafka_config(),
            "group.id": f"test-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    messages: list[Message] = []
    deadline = time.monotonic() + timeout_s
    quiet_until = None
    try:
        while time.monotonic() < deadline:
            batch = consumer.consume(num_messages=10_000, timeout=0.5)
            for message in batch:
                error = message.error()
                if error is not None:
                    raise RuntimeError(f"consumer error: {error}")
                messages.append(message)
            if len(messages) >= expected:
                quiet_until = quiet_until or time.monotonic() + 1.0
                if not batch and time.monotonic() > quiet_until:
                    break
    finally:
        consumer.close()
    return messages
