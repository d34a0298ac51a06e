"""What every scorecast process sets up the same way: log output and a graceful stop on SIGTERM/SIGINT.

The level comes from ``SCORECAST_LOG_LEVEL`` (or ``--verbose``, which sets it to DEBUG). librdkafka's own
lines are DEBUG records of the ``librdkafka`` logger (scorecast.io.librdkafka), so they reach the terminal
only when DEBUG is asked for; workers log INFO, one line per change of a client's state. So do the Cassandra
driver's: it logs a traceback per failed connection attempt (~18 lines for a missing keyspace, a WARNING each
reconnection try), while scorecast says the same in one line of its own (scorecast.io.cassandra).
"""

from __future__ import annotations

import logging
import os
import signal
import threading

LOG_LEVEL_VARIABLE = "SCORECAST_LOG_LEVEL"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_level(default: int = logging.INFO) -> int:
    """The level SCORECAST_LOG_LEVEL names (DEBUG, INFO, WARNING, ... or a number), else ``default``."""
    name = os.environ.get(LOG_LEVEL_VARIABLE, "").strip().upper()
    if not name:
        return default
    if name.isdigit():
        return int(name)
    level = logging.getLevelName(name)
    return level if isinstance(level, int) else default


DRIVER_LOGGERS = ("cassandra",)  # third-party loggers whose lines reach the terminal only at DEBUG


def configure_logging(default: int = logging.INFO) -> None:
    """Log to stderr at ``log_level(default)``; a long-running worker's one call at start."""
    level = log_level(default)
    logging.basicConfig(level=level, format=LOG_FORMAT)
    for name in DRIVER_LOGGERS:
        logging.getLogger(name).setLevel(level if level <= logging.DEBUG else logging.CRITICAL)


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT: a worker finishes and commits its batch, then leaves the group (a
    batch still waiting out an outage is abandoned uncommitted: StopRequestedError)."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


class StopRequestedError(Exception):
    """The process was asked to stop while a batch waited out an outage: the batch is abandoned uncommitted
    (its records are read again after the restart) instead of holding the stop until the outage ends."""
