"""The one Kafka producer wrapper: produce, wait out a full queue (bounded), collect delivery errors, flush.

    producer = KafkaProducer(settings, {"enable.idempotence": True}, name="signals")
    producer.probe()                          # ServiceUnavailableError within ~5 s if no broker answers
    producer.produce(topic, value, key, headers=headers, tag=position)
    producer.flush(30.0)                      # DeliveryError if any message of this window failed

Every message's delivery report is kept: counts in ``report``, and for each failed message a
``DeliveryFailure`` with the librdkafka error translated by ``kafka_error`` (so a caller decides by class:
a ``PermanentError`` record is dead-lettered, anything else retried) and the caller's ``tag``. ``flush``
raises ``DeliveryError`` for the failures since the previous flush. librdkafka's logs and errors go to
Python logging (``scorecast.io.librdkafka``); an "all brokers down" error is remembered, so a full queue or a
flush gives up with ``ServiceUnavailableError`` once brokers have been down for ``unreachable_after_s``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from scorecast.errors import PermanentError, RetryableError, ScorecastError
from scorecast.io.errors import kafka_error
from scorecast.io.kafka import BrokerState, probe_metadata
from scorecast.settings import Settings

Headers = Sequence[tuple[str, str | bytes | None]]
_SLICE_S = 0.1  # how often a flush or a full-queue wait re-checks broker state


class ProducerClient(Protocol):
    """What the wrapper uses of confluent-kafka's Producer (a test double implements this)."""

    def produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        *,
        on_delivery: Callable[[KafkaError | None, Message], None] | None = None,
        timestamp: int = 0,
        headers: Any = None,
    ) -> None: ...

    def poll(self, timeout: float) -> int: ...
    def flush(self, timeout: float) -> int: ...
    def list_topics(self, topic: str | None = None, timeout: float = -1) -> Any: ...


class DeliveryFailure(NamedTuple):
    key: bytes | None
    reason: str
    error: ScorecastError  # kafka_error's translation: decide on its class
    topic: str = ""
    tag: object = None  # what the caller passed to produce() to find the record again


@dataclass
class DeliveryReport:
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    failures: list[DeliveryFailure] = field(default_factory=list)  # the first ``max_kept_failures``

    @property
    def pending(self) -> int:
        return self.sent - self.delivered - self.failed


class DeliveryError(RetryableError):
    """Kafka did not acknowledge some messages. Retryable as a whole; ``permanent`` are the failures that
    the same record would get again (dead-letter those, retry the rest)."""

    def __init__(
        self, report: DeliveryReport, failures: Sequence[DeliveryFailure], failed: int, sent: int, topics: Sequence[str]
    ) -> None:
        self.report = report
        self.failures = list(failures)
        first = self.failures[0].reason if self.failures else "unknown error"
        names = ", ".join(sorted(topics)) or "Kafka"
        super().__init__(f"{failed} of {sent} messages to {names} not delivered (first: {first})")

    @property
    def permanent(self) -> list[DeliveryFailure]:
        return [f for f in self.failures if isinstance(f.error, PermanentError)]


@dataclass
class _Window:
    """Where the report stood at the last flush, and the topics produced to since."""

    sent: int = 0
    failed: int = 0
    kept: int = 0
    topics: set[str] = field(default_factory=set)


class KafkaProducer:
    def __init__(
        self,
        settings: Settings,
        config: Mapping[str, Any] | None = None,
        *,
        client: ProducerClient | None = None,
        new_client: Callable[[dict[str, Any]], ProducerClient] = Producer,
        max_kept_failures: int = 1_000,
        max_queue_wait_s: float = 60.0,
        unreachable_after_s: float | None = None,
        keep_failures: bool = True,
    ) -> None:
        """``config``: librdkafka settings over ``settings.kafka_config()``. ``client``: a Producer (or a test
        double) to use as it is; ``new_client``: how to make one from the config (a double's class in tests,
        so it gets the error callback). ``max_queue_wait_s``: how long ``produce`` waits for room in a full local queue.
        ``unreachable_after_s``: stop waiting once every broker has been down this long (None: never, a
        running worker keeps its messages queued until brokers return or ``flush`` times out).
        ``keep_failures``: keep every failure in ``report.failures`` for the producer's life (an SDK run reads them
        at the end); False keeps only the current flush window's, so a long-running worker neither grows with
        every outage nor runs out of room to match the next window's failures to their records."""
        self.keep_failures = keep_failures
        self.report = DeliveryReport()
        self.max_kept_failures = max_kept_failures
        self.max_queue_wait_s = max_queue_wait_s
        self.unreachable_after_s = unreachable_after_s
        self._brokers = BrokerState()
        self._window = _Window()
        self._service = f"Kafka at {settings.kafka_bootstrap}"
        self._client = client or new_client({**settings.kafka_config(), **(config or {}), "error_cb": self._brokers})

    def probe(self, timeout_s: float = 5.0) -> None:
        """Return once a broker answers; ServiceUnavailableError as soon as every broker is reported down, or
        after ``timeout_s`` without an answer."""
        probe_metadata(self._client, self._brokers.down_error, timeout_s, self._service)

    def produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        *,
        headers: Headers | None = None,
        timestamp: int = 0,
        tag: object = None,
    ) -> None:
        """Queue one message; a full local queue is served until there is room, for at most
        ``max_queue_wait_s`` (RetryableError) or until brokers count as unreachable (ServiceUnavailableError).
        A message librdkafka refuses outright raises its translation (too large: PermanentError)."""

        def on_delivery(error: KafkaError | None, message: Message) -> None:
            self._delivered(error, message, topic, tag)

        deadline: float | None = None
        while True:
            try:
                self._client.produce(topic, value, key, headers=headers, timestamp=timestamp, on_delivery=on_delivery)
                break
            except KafkaException as error:  # refused before queueing, e.g. over message.max.bytes: PermanentError
                raise kafka_error(error, f"Kafka topic {topic}") from None
            except BufferError:
                now = time.monotonic()
                deadline = deadline or now + self.max_queue_wait_s
                self._raise_if_unreachable()
                if now >= deadline:
                    raise RetryableError(
                        f"Kafka producer queue still full after {self.max_queue_wait_s:.0f}s"
                    ) from None
                self._serve(_SLICE_S / 2)
        self.report.sent += 1
        self._window.topics.add(topic)

    def poll(self, timeout_s: float = 0.0) -> None:
        """Serve delivery reports and client errors."""
        self._serve(timeout_s)

    def flush(self, timeout_s: float = 30.0, *, raise_on_failure: bool = True) -> DeliveryReport:
        """Wait for every queued message. Messages still queued after ``timeout_s`` (or once brokers count as
        unreachable) count as failed. Raises DeliveryError for this window's failures (those since the
        previous flush), unless ``raise_on_failure`` is False."""
        deadline = time.monotonic() + timeout_s
        remaining = self._client.flush(0)
        while remaining and time.monotonic() < deadline and self._unreachable() is None:
            remaining = self._client.flush(min(_SLICE_S, max(0.0, deadline - time.monotonic())))
        if remaining:
            down = self._unreachable()
            if down is not None:
                error: ScorecastError = kafka_error(down, service=self._service)
            else:
                error = RetryableError(f"{remaining} messages still undelivered after {timeout_s:g}s")
            self.report.failed += remaining
            # one entry for all of them, kept even past max_kept_failures: it explains the count
            self.report.failures.append(DeliveryFailure(None, str(error), error))
        failures = self.report.failures[self._window.kept :]
        if not self.keep_failures:
            self.report.failures = []
        window, self._window = self._window, _Window(self.report.sent, self.report.failed, len(self.report.failures))
        failed = self.report.failed - window.failed
        if failed and raise_on_failure:
            raise DeliveryError(self.report, failures, failed, self.report.sent - window.sent, sorted(window.topics))
        return self.report

    def _serve(self, timeout_s: float) -> None:
        self._client.poll(timeout_s)

    def _delivered(self, error: KafkaError | None, message: Message, topic: str, tag: object) -> None:
        if error is None:
            self.report.delivered += 1
            self._brokers.answered()
            return
        self.report.failed += 1
        translated = kafka_error(error, f"Kafka topic {topic}")
        if len(self.report.failures) < self.max_kept_failures:
            self.report.failures.append(DeliveryFailure(message.key(), str(error.str()), translated, topic, tag))

    def _unreachable(self) -> KafkaError | None:
        """The error to give up with, once every broker has been down for ``unreachable_after_s``."""
        if self.unreachable_after_s is None or self._brokers.down_for() < self.unreachable_after_s:
            return None
        return self._brokers.down_error()

    def _raise_if_unreachable(self) -> None:
        down = self._unreachable()
        if down is not None:
            raise kafka_error(down, service=self._service)
