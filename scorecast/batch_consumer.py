"""At-least-once micro-batch consumption, shared by every long-running consumer (scorers, shadow tee, ...).

Per batch: ``handle(messages)`` does the work once and returns a ``deliver`` step; ``deliver`` must be
idempotent, and what it raises decides what happens (scorecast.errors):

- ``RetryableError`` (or any error that is not a ``ScorecastError``): the fault is outside the records. The
  same batch is delivered again with capped backoff, nothing new is consumed meanwhile (a slow sink slows
  consumption instead of filling memory) and nothing is committed past it.
- ``PermanentError``: some record is refused deterministically. A handler should settle its own records (the
  scorer's outputs dead-letter the rows a sink refuses); one that lets it through gets the batch bisected:
  each half is handled and delivered again, down to the single message, which goes to ``on_rejected``. A
  partition never stops for a record.
- ``ConfigError``: retrying cannot help; it stops the consumer. So does a fatal consumer error (a fenced
  static member): the process exits and its restart rejoins, instead of idling without consuming.

Offsets are committed only after ``deliver`` returned, synchronously, and in batch order. Serially (the default)
that happens before the next batch is taken: what a kill -9 makes the next owner redo is the batch in hand. With
``overlap`` (the scorer's), ``deliver`` runs on one delivery thread while the caller's thread takes and handles the
next batch; that batch's delivery starts only once the previous one settled, and the previous one's offsets are
committed meanwhile. So at most two batches are in hand (one being written, one being handled), a kill -9 makes
the next owner redo at most those two, and no offset is committed before its batch's writes are acknowledged.
``handle`` and the bisection of a refused batch stay on the caller's thread: only ``deliver`` and its retries run
on the delivery thread, one batch at a time. A revoke or a loss of partitions (called inside ``consume``, on
the caller's thread) first waits for the batch being written to settle, so a revoked partition's offsets are
committed before it moves, and a lost one's are forgotten after, never committed.
While a batch cannot be written (a sink down, retried) the caller's thread keeps polling with every partition
paused: librdkafka drops a member that has not polled for ``max.poll.interval.ms`` (5 min), and its partitions'
batch in hand would be redone by their next owner after the rejoin. Paused, a poll takes no record (librdkafka
drops what it had prefetched and reads it again on resume) and serves the group's events; partitions assigned
meanwhile start paused, and those revoked or lost meanwhile go at once instead of waiting for the batch in hand,
which commits nothing of theirs (their next owner redoes its share: at most the batches in hand).
While the group rebalances (a member joined and a dead one is awaited for up to the session timeout) the
coordinator holds commits and then refuses them; asynchronous commits let a caught-up worker deliver a whole
partition in that window with nothing committed (measured: 51,563 events redone after one kill). Delivered
offsets stay pending until the broker acknowledges them: a refused commit is sent again with the next batch's,
or after ``commit_retry_s`` when none comes, and partitions being revoked get theirs committed first, so their
next owner starts after the last delivered batch.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from scorecast.errors import ConfigError, PermanentError
from scorecast.io.reader import KafkaReader
from scorecast.offsets import DeliveredOffsets
from scorecast.process import StopRequestedError
from scorecast.settings import Settings

log = logging.getLogger(__name__)

# What a kill -9 can leave delivered-or-not but uncommitted, per worker: the batch in hand, and with ``overlap``
# also the one written before it (its commit is sent while the next is written). The duplicate bound per kill.
BATCHES_IN_HAND = 2
# A batch whose write takes longer than this (overlapped: the next one is handled and waits for it; serial:
# its retries) makes the caller's thread poll with its partitions paused until it settles. Shorter waits (a
# shadow joiner's champion a moment behind) keep librdkafka's prefetch, which a pause drops.
HOLD_AFTER_S = 1.0
HOLD_POLL_S = 0.5  # one paused poll: how soon a settled batch, or a stop, is noticed meanwhile

Deliver = Callable[[], None]
Handler = Callable[[list[Message]], Deliver]
OnRejected = Callable[[Message, PermanentError], None]


@dataclass(frozen=True)
class ConsumerConfig:
    group: str  # the component's group name; the Kafka group id adds the topic prefix (Settings.group_id)
    topics: tuple[str, ...]
    batch_max: int = 2000
    batch_wait_s: float = 0.01  # short: at low rates a batch waits at most this long for company
    # Short enough that a sink's return (Cassandra back after an outage) is noticed within seconds.
    retry_backoff_max_s: float = 2.0
    # A member that died without leaving (kill -9, lost node) holds its partitions until this expires;
    # 10 s instead of librdkafka's 45 s bounds that stall.
    session_timeout_ms: int = 10_000
    # librdkafka drops a member that has not polled for this long (it must be >= session_timeout_ms).
    max_poll_interval_ms: int = 300_000
    instance_id: str | None = None  # static membership: a restarted member gets its partitions back at once
    # A refused commit is sent again with the next batch's; when no batch comes (caught up), after this long.
    commit_retry_s: float = 0.5
    # Deliver a batch on a delivery thread while the next one is handled (see the module docstring).
    overlap: bool = False


@dataclass
class ConsumerStats:
    batches: int = 0
    messages: int = 0
    retries: int = 0
    rejected: int = 0  # messages given to on_rejected after bisecting a permanently failing batch
    partitions: set[int] = field(default_factory=set)


class BatchConsumer:
    def __init__(
        self,
        settings: Settings,
        config: ConsumerConfig,
        on_lag: Callable[[int, int], None] | None = None,
        on_rejected: OnRejected | None = None,
    ):
        self.config = config
        self.stats = ConsumerStats()
        self._on_lag = on_lag
        self._on_rejected = on_rejected or _log_rejected
        self._offsets = DeliveredOffsets()
        self._retry_log = RetryLog("delivery")
        self._commit_sent_at = 0.0
        self._in_flight: deque[_InFlight] = deque()  # at most one batch, being delivered on the delivery thread
        self._failure: BaseException | None = None  # a batch that failed while settled inside a rebalance callback
        self._halt = threading.Event()  # the caller's thread gave up: the delivery thread stops retrying
        self._handle: Handler | None = None
        self._stop = threading.Event()
        self._caller: threading.Thread | None = None  # the thread in run(): the only one that may poll
        self._in_callback = False  # inside a rebalance callback, itself inside a poll: no poll from there
        self._holding = False  # partitions paused while a batch in hand is retried
        self._moves = 0  # partitions revoked or lost so far: a batch taken before one records only what is held
        consumer = Consumer(
            {
                **settings.kafka_config(),
                "group.id": settings.group_id(config.group),
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "partition.assignment.strategy": "cooperative-sticky",
                # Bounds the prefetch queue, and so the process's memory, whatever the topic's backlog.
                "queued.max.messages.kbytes": 16384,
                "on_commit": self._on_commit,
                "error_cb": self._on_client_error,
                "max.poll.interval.ms": config.max_poll_interval_ms,
                "session.timeout.ms": config.session_timeout_ms,
                "heartbeat.interval.ms": max(1000, config.session_timeout_ms // 4),
                **({"group.instance.id": config.instance_id} if config.instance_id else {}),
            }
        )
        # The live, group-subscribed mode of the one reader: its policy sorts out ends and errors, and ends the
        # consumer on a fatal error (a static member fenced by its own rejoin after a broker restart), so the
        # process exits and is restarted instead of idling for ever.
        self._reader = KafkaReader(consumer, "Kafka consumer", batch_max=config.batch_max, wait_s=config.batch_wait_s)
        self._consumer = consumer

    def run(self, handle: Handler, stop: threading.Event, idle_exit_s: float | None = None) -> ConsumerStats:
        """Consume until ``stop`` is set, or until partitions were held and nothing came for ``idle_exit_s``."""
        reader = self._reader
        self._handle, self._stop = handle, stop
        self._caller = threading.current_thread()
        self._halt.clear()
        pool = ThreadPoolExecutor(1, thread_name_prefix="deliver") if self.config.overlap else None
        reader.subscribe(self.config.topics, on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._lost)
        reader.still()
        try:
            while not stop.is_set():
                self._release()
                messages = reader.take().records  # a fatal error raises: what was delivered is committed below
                moves = self._moves
                self._raise_failure()
                if not messages:
                    if self._in_flight:  # caught up: the batch being written is committed as soon as it is
                        self._settle_in_flight()
                        self._commit()
                    elif time.monotonic() - self._commit_sent_at >= self.config.commit_retry_s:
                        self._commit()  # what a refused commit left pending, while no batch brings it along
                    if not self._consumer.assignment():
                        reader.still()  # idle counts only while partitions are held
                    elif idle_exit_s is not None and reader.quiet_for() > idle_exit_s:
                        break
                    continue
                deliver = handle(messages)  # overlapped: while the previous batch is still being written
                if pool is None:
                    self._settle(handle, messages, deliver, stop)
                    self._delivered(messages, moves)
                else:
                    self._settle_in_flight()  # in order: this batch is written only after the previous one
                    self._in_flight.append(_InFlight(messages, pool.submit(self._deliver, deliver, stop), moves))
                self._commit()
            self._settle_in_flight()  # stopped: the batch being written finishes and is committed
        except StopRequestedError as stopped:  # a stop cut an outage's wait short: nothing of this batch is committed
            log.warning("%s; the batch in hand is left uncommitted and read again after the restart", stopped)
        finally:
            self._abandon_in_flight()
            if pool is not None:
                pool.shutdown(wait=True)
            self._commit_now(self._offsets.pending(), "closing")
            try:
                self._consumer.close()  # leaves the group: partitions move at once
            except (KafkaException, RuntimeError) as error:  # a fatal consumer may refuse to leave cleanly
                log.warning("consumer close failed: %s", error)
        return self.stats

    def _delivered(self, messages: list[Message], moves: int) -> None:
        if moves != self._moves:  # partitions moved away while it was in hand: their next owner redoes its share
            held = {(tp.topic, tp.partition) for tp in self._consumer.assignment()}
            messages = [m for m in messages if (m.topic() or "", _partition(m)) in held]
        self._offsets.delivered(messages)
        self.stats.batches += 1
        self.stats.messages += len(messages)
        self.stats.partitions.update(_partition(m) for m in messages)

    def _settle_in_flight(self) -> None:
        """Wait for the batch being written; a batch refused permanently is bisected here, on the caller's thread
        (its ``handle`` is not thread-safe). Its offsets count as delivered once it settled; a failure is raised."""
        while self._in_flight:
            flight = self._in_flight[0]
            self._poll_until(flight.done)
            if not self._in_flight or self._in_flight[0] is not flight:
                continue  # settled by a rebalance callback during that poll
            try:
                flight.done.result()
            except PermanentError as error:
                assert self._handle is not None
                self._refused(self._handle, flight.messages, error, self._stop)
            finally:
                self._in_flight.popleft()
            self._delivered(flight.messages, flight.moves)

    def _abandon_in_flight(self) -> None:
        """Leaving on an error or a stop: a batch still being written gets its retries ended; if it was written
        after all its offsets count as delivered, otherwise it stays uncommitted and is read again."""
        self._halt.set()
        while self._in_flight:
            flight = self._in_flight.popleft()
            try:
                flight.done.result()
            except BaseException as error:  # left uncommitted; the first error is the one raised
                log.debug("a batch being written when the consumer stopped is left uncommitted: %s", error)
                continue
            self._delivered(flight.messages, flight.moves)

    def _raise_failure(self) -> None:
        failure, self._failure = self._failure, None
        if failure is not None:
            raise failure

    def _settle_in_callback(self) -> None:
        """Inside a rebalance callback: settle the batch being written; a failure is raised after ``consume``."""
        try:
            self._settle_in_flight()
        except BaseException as error:  # raised by the run loop, outside the callback
            self._failure = self._failure or error
            self._in_flight.clear()

    def _may_poll(self) -> bool:
        return threading.current_thread() is self._caller and not self._in_callback

    def _poll_until(self, done: Future[None]) -> None:
        """Wait for a batch being written; past ``HOLD_AFTER_S``, while polling with every partition paused."""
        if not self._may_poll():
            return
        try:
            done.result(HOLD_AFTER_S)
            return
        except TimeoutError:
            pass
        except BaseException:  # settled with an error: the caller takes it from the future
            return
        while not done.done() and not self._stop.is_set():
            self._poll_held(HOLD_POLL_S)

    def _wait(self, seconds: float, stop: threading.Event, since: float) -> bool:
        """The wait between two tries of a delivery begun at ``since``; True once ``stop`` is set. Past
        ``HOLD_AFTER_S``, on the caller's thread, it polls with every partition paused, so the group keeps this
        member however long the outage lasts."""
        if not self._may_poll() or time.monotonic() - since < HOLD_AFTER_S:
            return stop.wait(seconds)
        deadline = time.monotonic() + seconds
        while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
            self._poll_held(min(left, HOLD_POLL_S))
        return stop.is_set()

    def _poll_held(self, seconds: float) -> None:
        """One poll with every partition paused: it serves the group's events (rebalances) and takes no record."""
        if not self._holding:
            self._holding = True
            self._consumer.pause(self._consumer.assignment())
            log.info("partitions paused while the batch in hand is retried; the group keeps this member")
        taken = self._reader.errors.sort(self._consumer.consume(self.config.batch_max, seconds), bounded=False)
        self._reader.errors.raise_if_fatal()
        first: dict[tuple[str, int], int] = {}
        for m in taken.records:  # of a partition that was not paused in time: read again after the release
            first.setdefault((m.topic() or "", _partition(m)), m.offset() or 0)
        for (topic, partition), offset in first.items():
            self._consumer.seek(TopicPartition(topic, partition, offset))
            self._consumer.pause([TopicPartition(topic, partition)])

    def _release(self) -> None:
        """The batch in hand settled: every partition held is read again from where the batches stopped."""
        if self._holding:
            self._holding = False
            self._consumer.resume(self._consumer.assignment())
            self._reader.still()  # the hold was no idle time: an idle exit counts from now

    def _settle(self, handle: Handler, messages: list[Message], deliver: Deliver, stop: threading.Event) -> None:
        """Deliver, retrying what is retryable; bisect a batch that fails permanently down to its bad messages."""
        try:
            self._deliver(deliver, stop)
        except PermanentError as error:
            self._refused(handle, messages, error, stop)

    def _refused(self, handle: Handler, messages: list[Message], error: PermanentError, stop: threading.Event) -> None:
        if len(messages) == 1:
            self.stats.rejected += 1
            self._on_rejected(messages[0], error)
            return
        log.warning("a batch of %d messages was refused (%s); bisecting it", len(messages), error)
        half = len(messages) // 2
        for part in (messages[:half], messages[half:]):
            self._settle(handle, part, handle(part), stop)

    def _on_client_error(self, error: KafkaError) -> None:
        self._reader.errors.client_error(error)  # called inside consume(), once the reader exists

    def _deliver(self, deliver: Deliver, stop: threading.Event) -> None:
        backoff = 0.1
        started = time.monotonic()
        while True:
            try:
                deliver()
                self._retry_log.succeeded()
                return
            except (PermanentError, ConfigError):
                raise  # retrying cannot help: the caller bisects the batch, or stops
            except Exception as error:  # retryable, or unknown: keep the batch, back off, retry; never commit
                self.stats.retries += 1
                self._retry_log.failed(error)
                if self._wait(backoff, stop, started) or self._halt.is_set():
                    raise
                backoff = min(backoff * 2, self.config.retry_backoff_max_s)

    def _commit(self) -> None:
        """Commit every delivered offset the broker has not acknowledged yet, and wait for the answer."""
        offsets = self._offsets.pending()
        if not offsets:
            return
        self._commit_sent_at = time.monotonic()
        if self._commit_now(offsets, None) and self._on_lag is not None:
            for tp in offsets:
                _, high = self._consumer.get_watermark_offsets(tp, cached=True)
                if high >= 0:
                    self._on_lag(tp.partition, high - tp.offset)

    def _commit_now(self, offsets: list[TopicPartition], why: str | None) -> bool:
        """Commit synchronously; a refusal keeps the offsets pending (``why`` names a last chance, logged)."""
        if not offsets:
            return True
        try:
            acknowledged = self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as error:
            if why is None:
                log.debug("commit refused (%s); sent again with the next one", error)
            else:
                log.warning("commit while %s refused (%s); the next owner redoes the uncommitted messages", why, error)
            return False
        self._offsets.committed([tp for tp in acknowledged or [] if tp.error is None])
        return True

    def _on_commit(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        if error is not None:
            log.debug("offset commit failed (%s); retried with the next one", error)
            return
        self._offsets.committed([tp for tp in partitions if tp.error is None])

    def _assigned(self, _: Consumer, partitions: list[TopicPartition]) -> None:
        if partitions:
            log.info("assigned partitions %s", sorted(tp.partition for tp in partitions))
        if self._holding and partitions:  # assigned while a batch is retried: start paused, like the others
            self._consumer.incremental_assign(partitions)
            self._consumer.pause(partitions)

    def _revoked(self, _: Consumer, partitions: list[TopicPartition]) -> None:
        # Called inside consume(), so every batch taken so far is delivered: commit it before the partitions
        # move, or their next owner redoes everything since the last acknowledged asynchronous commit.
        if not partitions:
            return
        log.info("revoked partitions %s", sorted(tp.partition for tp in partitions))
        if not self._holding:  # held: the batch in hand is not waited for, a rebalance is not held up by an outage
            with self._callback():
                self._settle_in_callback()  # the batch being written is acknowledged first, so it is committed below
        self._commit_now(self._offsets.pending(partitions), "revoking partitions")
        self._forget(partitions)

    def _lost(self, _: Consumer, partitions: list[TopicPartition]) -> None:
        # Lost, not revoked (the session expired): they may already be another member's, so no commit.
        if partitions:
            log.warning("lost partitions %s", sorted(tp.partition for tp in partitions))
        if not self._holding:
            with self._callback():
                self._settle_in_callback()  # then its lost partitions' offsets are forgotten, never committed
        self._forget(partitions)

    def _forget(self, partitions: list[TopicPartition]) -> None:
        self._offsets.forget(partitions)
        self._moves += 1

    @contextlib.contextmanager
    def _callback(self) -> Iterator[None]:
        self._in_callback = True
        try:
            yield
        finally:
            self._in_callback = False


@dataclass(frozen=True)
class _InFlight:
    messages: list[Message]
    done: Future[None]  # the delivery thread's ``_deliver`` of the batch
    moves: int  # BatchConsumer._moves when it was taken


class RetryLog:
    """Logs a retried operation once when it starts failing and once when it works again, not per retry."""

    def __init__(self, what: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.what = what
        self._clock = clock
        self._failing_since: float | None = None
        self._retries = 0

    def failed(self, error: BaseException) -> None:
        self._retries += 1
        if self._failing_since is None:
            self._failing_since = self._clock()
            log.warning("%s failing, retrying until it works: %s: %s", self.what, type(error).__name__, error)

    def succeeded(self) -> None:
        if self._failing_since is not None:
            log.warning(
                "%s works again after %.1fs and %d retries",
                self.what,
                self._clock() - self._failing_since,
                self._retries,
            )
            self._failing_since = None
            self._retries = 0

    @property
    def failing(self) -> bool:
        return self._failing_since is not None


def _log_rejected(message: Message, error: PermanentError) -> None:
    log.error(
        "message %s[%s]@%s refused permanently and skipped (no dead-letter sink): %s",
        message.topic(),
        message.partition(),
        message.offset(),
        error,
    )


def _partition(message: Message) -> int:
    partition = message.partition()
    assert partition is not None  # set on every consumed message
    return partition
