"""What every Kafka read does with what ``consume`` hands back, whatever its mode (scorecast.io.reader).

- **Batches without waiting**: ``take_batch`` takes what is queued at once and waits only on an empty queue.
- **End of partition**: librdkafka's ``_PARTITION_EOF`` event is no record; it is sorted out as an ``End``
  carrying the next offset to read. Control records (transaction markers) and compacted offsets never arrive as
  records, so only an ``End`` tells a reader that a partition has nothing more (a bounded read ends there, a
  stream processor's watermark treats the partition as idle).
- **Errors**: a fatal error (a static member fenced by its own rejoin: code ``_FATAL``, with or without the
  fatal flag, or a fatal ``error_cb`` report) ends every read with the ``ConfigError`` of ``kafka_error``: a
  fatal consumer never consumes again, and a process that exits is restarted instead of idling. Any other error
  ends a bounded read, translated by ``kafka_error`` (it is one-shot; its caller reports), and is logged by the
  live reads, which wait it out (a subscribed topic not created yet, a broker restarting).
- **Stalls and idleness**: ``Progress`` is the time since the last record or end; a bounded read raises
  ``RetryableError`` after ``stall_s`` of it, a live read may stop after ``idle_exit_s`` of it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from confluent_kafka import Consumer, KafkaError, Message

from scorecast.io.errors import kafka_error
from scorecast.io.librdkafka import StateChangeLog, log_client_error

log = logging.getLogger(__name__)

WAIT_S = 0.05  # what an empty queue waits for a batch, unless the mode says otherwise


class End(NamedTuple):
    """A partition read to its end: ``offset`` is the next offset to read (the high watermark then)."""

    topic: str
    partition: int
    offset: int


@dataclass
class Sorted:
    records: list[Message] = field(default_factory=list)
    ends: list[End] = field(default_factory=list)


def take_batch(consumer: Consumer, most: int, wait_s: float) -> list[Message]:
    """Up to ``most`` messages: what is queued, at once; only an empty queue waits up to ``wait_s``.

    ``consume(n, timeout)`` returns early only once ``n`` messages are there, so calling it alone would add the
    whole timeout to every batch short of ``n``: under load, to every batch's latency.
    """
    return consumer.consume(most, 0) or consumer.consume(most, wait_s)


def is_fatal(error: KafkaError) -> bool:
    # consume() hands over a fenced static member's error as code _FATAL without the fatal flag (the flag is set
    # only on what error_cb gets, which a fenced consumer did not call): measured idling for ever.
    return error.fatal() or error.code() == KafkaError._FATAL


class ReadErrors:
    """The error half of the policy for one reader: a bounded read ends on any error, a live one logs it."""

    def __init__(self, what: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.what = what
        self._fatal: KafkaError | None = None
        self._live_errors = StateChangeLog(f"{what} error", __name__, logging.WARNING, clock)

    def client_error(self, error: KafkaError) -> None:
        """The consumer's ``error_cb``: logged once per kind, a fatal one remembered to end the read."""
        log_client_error(error)
        if error.fatal():
            self._fatal = error

    def raise_if_fatal(self) -> None:
        if self._fatal is not None:
            raise kafka_error(self._fatal, self.what)

    def sort(self, messages: Sequence[Message], *, bounded: bool) -> Sorted:
        """Records and ends apart; errors by the policy above."""
        out = Sorted()
        for m in messages:
            error = m.error()
            if error is None:
                out.records.append(m)
            elif error.code() == KafkaError._PARTITION_EOF:
                out.ends.append(End(m.topic() or "", m.partition() or 0, m.offset() or 0))
            elif is_fatal(error):
                self._fatal = error if error.fatal() else KafkaError(error.code(), error.str(), fatal=True)
                self.raise_if_fatal()
            elif bounded:
                raise kafka_error(error, self.what)
            else:  # waited out (a subscribed topic not created yet): logged once per kind, not per poll
                self._live_errors(error)
        self.raise_if_fatal()  # error_cb runs inside consume(): a fatal report there ends this batch's read
        return out


class Progress:
    """Time since a read last made progress (a record or an end), on an injectable clock."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._at = clock()

    def made(self) -> None:
        self._at = self._clock()

    def quiet_for(self) -> float:
        return self._clock() - self._at
