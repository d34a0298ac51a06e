"""Is Kafka there? A bounded reachability check for commands that must fail fast instead of retrying.

librdkafka never gives up on a broker: a client pointed at nothing retries for as long as it lives (a
one-shot command hung for minutes). ``require_kafka`` asks for cluster metadata and raises
ServiceUnavailableError as soon as librdkafka reports every broker down (connection refused, name not
resolved: well under a second) or after ``timeout_s`` without an answer. A running worker does not use it
mid-stream: there an outage is waited out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from scorecast.errors import ConfigError, ServiceUnavailableError
from scorecast.io.errors import kafka_error
from scorecast.io.librdkafka import log_client_error
from scorecast.settings import Settings

_SLICE_S = 0.2


def kafka_where(settings: Settings) -> str:
    """ "Kafka at host:port", as errors name it."""
    return f"Kafka at {settings.kafka_bootstrap}"


class BrokerState:
    """A client's ``error_cb``: logs each error (scorecast.io.librdkafka) and remembers whether every broker is
    down, since when, and the connection error that explains it (refused, not resolved)."""

    def __init__(self) -> None:
        self.down_since: float | None = None
        self._down: KafkaError | None = None
        self._cause: KafkaError | None = None

    def __call__(self, error: KafkaError) -> None:
        log_client_error(error)
        code = error.code()
        # What explains "all brokers down": refused, not resolved, or a TLS handshake or SASL login that failed
        if code in (KafkaError._TRANSPORT, KafkaError._RESOLVE, KafkaError._SSL, KafkaError._AUTHENTICATION):
            self._cause = error
        elif code == KafkaError._ALL_BROKERS_DOWN:
            self._down = error
            if self.down_since is None:
                self.down_since = time.monotonic()

    def answered(self) -> None:
        """A broker answered (a delivery report came back): not down any more."""
        self.down_since = None
        self._down = None

    def down_error(self) -> KafkaError | None:
        """The error to report while every broker is down, else None."""
        if self._down is None:
            return None
        return self._cause or self._down

    def down_for(self) -> float:
        return 0.0 if self.down_since is None else time.monotonic() - self.down_since


def require_kafka(settings: Settings, timeout_s: float = 5.0, *, wait: bool = False) -> None:
    """Return once a broker answers. A one-shot command gives up as soon as every broker is reported down; with
    ``wait`` (a worker starting beside a cluster that may still be starting) only after ``timeout_s``."""
    state = BrokerState()
    config: dict[str, Any] = {**settings.kafka_config(), "error_cb": state}
    try:
        admin = AdminClient(config)
    except KafkaException as error:  # librdkafka refused its configuration: a CA or key file it cannot load
        raise ConfigError(f"{kafka_where(settings)}: {error.args[0].str()}; check SCORECAST_KAFKA_SSL_*") from None
    probe_metadata(admin, state.down_error, timeout_s, kafka_where(settings), wait=wait)


def wait_for_kafka(settings: Settings) -> None:
    """A worker starting: wait up to ``kafka_start_timeout_s`` for a broker (the cluster may be starting too),
    then ServiceUnavailableError: exit 1 rather than retry forever with nothing ever reachable. A running
    worker waits outages out instead."""
    require_kafka(settings, settings.kafka_start_timeout_s, wait=True)


def probe_metadata(
    client: Any,
    brokers_down: Callable[[], KafkaError | None],
    timeout_s: float,
    service: str,
    *,
    wait: bool = False,
) -> None:
    """Ask ``client`` (a producer, consumer or admin client) for metadata in short slices, serving its
    callbacks in between, until it answers, ``brokers_down()`` reports an error (unless ``wait``), or
    ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            client.list_topics(timeout=max(0.01, min(_SLICE_S, deadline - time.monotonic())))
            return
        except KafkaException as error:
            last = error
        client.poll(0)  # error_cb runs here
        down = brokers_down()
        if down is not None and (not wait or time.monotonic() >= deadline):
            raise kafka_error(down, service=service) from None
        if time.monotonic() >= deadline:
            translated = kafka_error(last, service=service)
            if isinstance(translated, ServiceUnavailableError):
                raise translated from None
            raise ServiceUnavailableError(service, "SCORECAST_KAFKA_BOOTSTRAP", f"no answer in {timeout_s:g}s")
