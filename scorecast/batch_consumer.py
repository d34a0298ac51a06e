"""At-least-once micro-batch consumption, shared by every long-running consumer (scorers, shadow tee, ...).

Per batch: ``handle(messages)`` does the work once and returns a ``deliver`` step; ``deliver`` is retried with
backoff until it succeeds (it must be idempotent); only then are the offsets committed. Nothing new is consumed
while a delivery is retried, so a slow sink slows consumption instead of filling memory (in-flight work is one
batch plus librdkafka's bounded prefetch). Past ``max.poll.interval.ms`` the group moves the partitions and
the commit is refused; the new owner redoes the batch, which idempotent sinks absorb.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from scorecast.settings import Settings

log = logging.getLogger(__name__)

Deliver = Callable[[], None]
Handler = Callable[[list[Message]], Deliver]


@dataclass(frozen=True)
class ConsumerConfig:
    group: str  # the component's group name; the Kafka group id adds the topic prefix (Settings.group_id)
    topics: tuple[str, ...]
    batch_max: int = 2000
    batch_wait_s: float = 0.01  # short: at low rates a batch waits at most this long for company
    retry_backoff_max_s: float = 10.0
    # A member that died without leaving (kill -9, lost node) holds its partitions until this expires;
    # 10 s instead of librdkafka's 45 s bounds that stall.
    session_timeout_ms: int = 10_000
    instance_id: str | None = None  # static membership: a restarted member gets its partitions back at once


@dataclass
class ConsumerStats:
    batches: int = 0
    messages: int = 0
    retries: int = 0
    partitions: set[int] = field(default_factory=set)


class BatchConsumer:
    def __init__(self, settings: Settings, config: ConsumerConfig, on_lag: Callable[[int, int], None] | None = None):
        self.config = config
        self.stats = ConsumerStats()
        self._on_lag = on_lag
        self._consumer = Consumer(
            {
                **settings.kafka_config(),
                "group.id": settings.group_id(config.group),
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "partition.assignment.strategy": "cooperative-sticky",
                # Bounds the prefetch queue, and so the process's memory, whatever the topic's backlog.
                "queued.max.messages.kbytes": 16384,
                "on_commit": _log_commit_errors,
                "max.poll.interval.ms": 300000,
                "session.timeout.ms": config.session_timeout_ms,
                "heartbeat.interval.ms": max(1000, config.session_timeout_ms // 4),
                **({"group.instance.id": config.instance_id} if config.instance_id else {}),
            }
        )

    def run(self, handle: Handler, stop: threading.Event, idle_exit_s: float | None = None) -> ConsumerStats:
        """Consume until ``stop`` is set, or until partitions were held and nothing came for ``idle_exit_s``."""
        self._consumer.subscribe(
            list(self.config.topics), on_assign=_log_partitions("assigned"), on_revoke=_log_partitions("revoked")
        )
        last_message = time.monotonic()
        try:
            while not stop.is_set():
                batch = take_batch(self._consumer, self.config.batch_max, self.config.batch_wait_s)
                messages = [m for m in batch if _usable(m)]
                if not messages:
                    if not self._consumer.assignment():
                        last_message = time.monotonic()  # idle counts only while partitions are held
                    elif idle_exit_s is not None and time.monotonic() - last_message > idle_exit_s:
                        break
                    continue
                last_message = time.monotonic()
                self._deliver(handle(messages), stop)
                self._commit(messages)
                self.stats.batches += 1
                self.stats.messages += len(messages)
                self.stats.partitions.update(_partition(m) for m in messages)
        finally:
            self._consumer.close()  # waits for pending commits, then leaves the group: partitions move at once
        return self.stats

    def _deliver(self, deliver: Deliver, stop: threading.Event) -> None:
        backoff = 0.1
        while True:
            try:
                deliver()
                return
            except Exception as error:  # any sink failure: keep the batch, back off, retry; never commit
                self.stats.retries += 1
                log.warning("delivery failed, retrying in %.1fs: %s", backoff, error)
                if stop.wait(backoff):
                    raise
                backoff = min(backoff * 2, self.config.retry_backoff_max_s)

    def _commit(self, messages: list[Message]) -> None:
        # Asynchronous: the batch is already delivered, so waiting for the broker's answer buys nothing but a
        # round trip per batch. A refused commit (a rebalance moved the partitions) only means the new owner
        # redoes the batch, which idempotent sinks absorb; a later commit supersedes a lost one.
        next_offsets: dict[tuple[str, int], int] = {}
        for m in messages:
            key = (m.topic() or "", _partition(m))
            next_offsets[key] = max(next_offsets.get(key, 0), (m.offset() or 0) + 1)
        offsets = [TopicPartition(t, p, o) for (t, p), o in next_offsets.items()]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=True)
        except KafkaException as error:
            log.warning("commit refused (%s); the partitions' new owner will redo this batch", error)
            return
        if self._on_lag is not None:
            for tp in offsets:
                _, high = self._consumer.get_watermark_offsets(tp, cached=True)
                if high >= 0:
                    self._on_lag(tp.partition, high - tp.offset)


def take_batch(consumer: Consumer, most: int, wait_s: float) -> list[Message]:
    """Up to ``most`` messages: what is queued, at once; only an empty queue waits up to ``wait_s``.

    ``consume(n, timeout)`` returns early only once ``n`` messages are there, so calling it alone would add the
    whole timeout to every batch short of ``n``: under load, to every batch's latency.
    """
    return consumer.consume(most, 0) or consumer.consume(most, wait_s)


def _log_commit_errors(error: KafkaError | None, partitions: list[TopicPartition]) -> None:
    if error is not None:
        log.warning("offset commit failed (%s); the batch will be redone after a restart or rebalance", error)


def _usable(message: Message) -> bool:
    error = message.error()
    if error is None:
        return True
    if error.code() != KafkaError._PARTITION_EOF:
        log.warning("consumer error: %s", error)
    return False


def _partition(message: Message) -> int:
    partition = message.partition()
    assert partition is not None  # set on every consumed message
    return partition


def _log_partitions(what: str) -> Callable[[Consumer, list[TopicPartition]], None]:
    def log_them(_: Consumer, partitions: list[TopicPartition]) -> None:
        if partitions:
            log.info("%s partitions %s", what, sorted(tp.partition for tp in partitions))

    return log_them
