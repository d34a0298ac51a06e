"""librdkafka's own output routed into Python logging, for every Kafka client the project creates.

Without a ``logger`` librdkafka writes to stderr itself: an unreachable broker printed over a thousand lines
before any error. ``client_hooks()`` is merged into ``Settings.kafka_config()``, so every producer, consumer
and admin client gets both hooks from one place:

- ``logger``: librdkafka's log lines, all at DEBUG on the ``librdkafka`` logger (they are diagnostics, one per
  retry; shown with ``--verbose`` or ``SCORECAST_LOG_LEVEL=DEBUG``);
- ``error_cb``: client-level errors, one INFO line per change of error (a broker going down is logged once,
  not once per reconnect), ERROR for fatal ones. A caller that must act on them (the producer wrapper) wraps
  ``log_client_error`` with its own callback.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from confluent_kafka import KafkaError

LIBRDKAFKA_LOGGER = "librdkafka"
CLIENT_ERRORS_LOGGER = "scorecast.kafka"
_REPEAT_AFTER_S = 60.0  # the same error is logged again at most this often


class _LibrdkafkaLogger(logging.LoggerAdapter[logging.Logger]):
    """librdkafka calls ``logger.log(level, msg, *args)`` with syslog levels (3 = error ... 7 = debug). Every
    line becomes DEBUG: its errors reach users through ``error_cb`` and the raised scorecast errors."""

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        self.logger.debug(msg, *args, **kwargs)


class StateChangeLog:
    """Logs a kind of Kafka error once, and again only after ``_REPEAT_AFTER_S`` (librdkafka reports a refused
    connection on every reconnect, several times a second, and a subscribed topic not created yet on every
    metadata refresh). Fatal errors at ERROR, others at ``level``, as ``<what>: <error>`` on ``logger``."""

    def __init__(self, what: str, logger: str, level: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._what, self._logger, self._level, self._clock = what, logger, level, clock
        self._lock = threading.Lock()
        self._logged_at: dict[int, float] = {}

    def __call__(self, error: KafkaError) -> None:
        now = self._clock()
        code = error.code()
        with self._lock:
            if now - self._logged_at.get(code, -_REPEAT_AFTER_S) < _REPEAT_AFTER_S:
                return
            self._logged_at[code] = now
        level = logging.ERROR if error.fatal() else self._level
        logging.getLogger(self._logger).log(level, "%s: %s", self._what, error.str())


log_client_error = StateChangeLog("Kafka client", CLIENT_ERRORS_LOGGER, logging.INFO)


def client_hooks() -> dict[str, Any]:
    """The librdkafka config entries that route its logs and errors into Python logging."""
    return {"logger": _LibrdkafkaLogger(logging.getLogger(LIBRDKAFKA_LOGGER)), "error_cb": log_client_error}
