"""The output side shared by the processors: signals and alerts out, acknowledged, then checkpoint, then commit.

Order (at-least-once by construction): publish signals (Cassandra and Kafka acknowledged) → save the
checkpoint (what was reported, the processor's statistics) → commit Kafka offsets. A failed publish is
retried with backoff while the partitions are paused (consumption stops instead of buffering); nothing is
checkpointed or committed until it succeeds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer

from scorecast.telemetry import get_meter
from streams.alerts import Alert, Alerter
from streams.kafka import TP, commit
from streams.publish import SignalPublisher
from streams.signals import Signal
from streams.store import CheckpointStore

log = logging.getLogger(__name__)
meter = get_meter("scorecast.streams")
_signals = meter.create_counter("scorecast_signals", unit="1", description="signals emitted")
_retries = meter.create_counter("scorecast_signal_retries", unit="1", description="failed signal publishes")


class Emitter:
    def __init__(
        self,
        processor: str,
        client: Consumer,
        publisher: SignalPublisher,
        alerter: Alerter,
        checkpoints: CheckpointStore,
        clock: Callable[[], float] = time.time,
        backoff_max_s: float = 10.0,
    ) -> None:
        self.processor = processor
        self._client = client
        self._publisher = publisher
        self._alerter = alerter
        self._checkpoints = checkpoints
        self._clock = clock
        self._backoff_max_s = backoff_max_s
        self.retries = 0

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    def emit(self, signals: list[Signal], alerts: list[Alert], stop: threading.Event) -> None:
        """Publish signals and the alerts' ALERT signals; alerts go to the log, metric and webhook once published."""
        alert_signals = [a.signal(self.now_ms()) for a in alerts]
        everything = signals + alert_signals
        if not everything:
            return
        backoff = 0.1
        while True:
            try:
                self._publisher.publish(everything)
                break
            except Exception as error:  # any sink failure: keep the signals, pause, retry; never commit
                self.retries += 1
                _retries.add(1, {"processor": self.processor})
                log.warning("signal publish failed, retrying in %.1fs (partitions paused): %s", backoff, error)
                if stop.is_set():
                    raise
                self._pause_for(backoff)
                backoff = min(backoff * 2, self._backoff_max_s)
        for signal in everything:
            _signals.add(1, {"processor": self.processor, "kind": signal.kind})
        self._alerter.fire(alerts)

    def checkpoint(self, state: dict[str, Any], processed: dict[TP, int], commit_at: dict[TP, int]) -> None:
        """Save ``state`` with the offsets it covers, then commit ``commit_at`` (what a restart re-reads from)."""
        self._checkpoints.save(self.processor, state, processed)
        commit(self._client, commit_at)

    def _pause_for(self, seconds: float) -> None:
        assignment = self._client.assignment()
        self._client.pause(assignment)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._client.poll(0.1)  # returns nothing while paused
        self._client.resume(assignment)
