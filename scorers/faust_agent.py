"""scorecast inside a faust app: ``scorecast_agent`` adds an agent that scores a topic like ``scorecast worker score``.

The agent drives the scorer worker's own ``BatchScorer`` (scorers.worker): the same batch decoder, ScoringCore,
version quarantine, Cassandra rows, prediction records and dead letters with their reasons. faust is only the
transport: it fetches micro-batches of raw bytes and commits offsets. Needs the ``faust`` extra
(``pip install 'scorecast[faust]'``); nothing else in scorecast imports faust.

Offsets are acknowledged only after a batch's writes. faust commits a partition's offset up to its first
unacknowledged event. Its ``Stream.take`` acks the buffered events in a ``finally`` around its ``yield``, so
also when the agent's body raises: a batch whose writes failed would be committed (faust-streaming issue #189;
robinhood/faust #513). The agent therefore iterates ``stream.noack().noack_take(max_, within)``
(faust-streaming PR #192), which yields the events and acks none, and acks each event with ``Stream.ack`` once
its batch is delivered. Delivery is retried in place like ``BatchConsumer`` does (capped backoff, logged once
when it starts failing and once when it works again): an agent that raised would be restarted by faust's
supervisor past the unacknowledged events, whose gap would then hold the partition's commits back until the
process restarts. A ``ConfigError`` (no version can serve, say) crashes the app, as it stops a worker.

Scoring and writing block (numpy, onnxruntime, the Cassandra driver, librdkafka flushes), so they run in a
worker thread: faust's event loop keeps fetching and heartbeating meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack
from dataclasses import replace
from typing import Any, Protocol, TypeVar, cast

import faust
from confluent_kafka import Message

from scorecast.batch_consumer import Deliver, Handler, RetryLog
from scorecast.errors import ConfigError, PermanentError
from scorecast.settings import Settings
from scorers.worker import WorkerConfig, batch_scorer

log = logging.getLogger(__name__)
T = TypeVar("T")

_RETRY_BACKOFF_MAX_S = 2.0  # as BatchConsumer: a sink's return is noticed within seconds


class Scorer(Protocol):
    """What the agent needs of a batch scorer (scorers.worker.BatchScorer)."""

    def handle(self, messages: list[Message]) -> Deliver: ...

    def close(self) -> object: ...


ScorerFactory = Callable[[Settings, WorkerConfig], AbstractContextManager[Scorer]]


def scorecast_agent(
    app: faust.App,
    settings: Settings,
    config: WorkerConfig,
    *,
    topic: faust.TopicT | None = None,
    within_s: float = 0.05,
    scorer: ScorerFactory = batch_scorer,
) -> faust.types.AgentT[Any]:
    """Add to ``app`` an agent that scores ``config.stream``'s source topic with the model alias ``config.alias``.

    ``topic`` defaults to the stream's source topic by scorecast's naming (``settings.topic``); a topic passed
    in must deliver raw bytes (``value_serializer="raw"``). Batches hold up to ``config.batch_max`` events and
    wait at most ``within_s`` for company. The Kafka consumer group is the faust app's (its id), and so is the
    consumer named by dead letters and spans unless ``config.group_id`` says otherwise. ``scorer`` wires the
    batch scorer when the agent starts (the worker's, from settings; tests pass a double).
    """
    if config.group_id is None:
        config = replace(config, group_id=app.conf.id)
    source = topic or app.topic(
        settings.topic(config.stream, config.source),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )

    async def score(stream: faust.StreamT[Any]) -> None:
        await _score(app, scorer(settings, config), config, stream, within_s)

    name = f"scorecast.{config.stream}.{config.source}.{config.model}.{config.alias}"
    return app.agent(source, name=name)(score)


async def _score(
    app: faust.App,
    wiring: AbstractContextManager[Scorer],
    config: WorkerConfig,
    stream: faust.StreamT[Any],
    within_s: float,
) -> None:
    stack = ExitStack()
    try:
        # Opening Cassandra and loading and probing the models block for seconds: off the event loop.
        scorer = await _finish(asyncio.to_thread(stack.enter_context, wiring))
        stack.callback(scorer.close)
        manual = _without_acks(stream)
        retry_log = RetryLog("delivery")
        async for taken in manual.noack_take(config.batch_max, within=within_s):
            events = cast("Sequence[faust.EventT[Any]]", taken)  # noack_take yields the events, typed as values
            await _settle(scorer.handle, [_message(event.message) for event in events], retry_log)
            for event in events:  # only now may faust commit past them
                await manual.ack(event)
    except ConfigError as error:
        log.error("scorecast agent %s stopped: %s", config.group, error)
        await app.crash(error)
        raise
    finally:
        await _finish(asyncio.to_thread(stack.close))  # flushes the producer, stops the watcher, closes Cassandra


async def _settle(handle: Handler, messages: list[Message], retry_log: RetryLog) -> None:
    """Score and deliver, retrying what is retryable; bisect a batch that fails permanently down to its bad messages
    (the outputs settle a sink's refusals themselves, so this is the last net, as in BatchConsumer)."""
    deliver = await _finish(asyncio.to_thread(handle, messages))
    try:
        await _deliver(deliver, retry_log)
    except PermanentError as error:
        if len(messages) == 1:
            message = messages[0]
            log.error(
                "message %s[%s]@%s refused permanently and skipped: %s",
                message.topic(),
                message.partition(),
                message.offset(),
                error,
            )
            return
        log.warning("a batch of %d messages was refused (%s); bisecting it", len(messages), error)
        half = len(messages) // 2
        for part in (messages[:half], messages[half:]):
            await _settle(handle, part, retry_log)


async def _deliver(deliver: Deliver, retry_log: RetryLog) -> None:
    backoff = 0.1
    while True:
        try:
            await _finish(asyncio.to_thread(deliver))
            retry_log.succeeded()
            return
        except (PermanentError, ConfigError):
            raise
        except Exception as error:  # retryable, or unknown: keep the batch, back off, retry; never ack
            retry_log.failed(error)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _RETRY_BACKOFF_MAX_S)


async def _finish(work: Awaitable[T]) -> T:
    """Await work in a thread to its end even if the agent is cancelled meanwhile (a rebalance, a stop): the
    thread cannot be stopped, and the scorer must not be closed under it."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])
        raise


def _without_acks(stream: faust.StreamT[Any]) -> faust.Stream[Any]:
    """The stream's clone that acks nothing by itself (faust's StreamT declares neither noack nor noack_take)."""
    assert isinstance(stream, faust.Stream)
    manual = stream.noack()
    assert isinstance(manual, faust.Stream)
    return manual


def _message(record: faust.types.Message) -> Message:
    """An event's Kafka record as the scorer's outputs and dead letters take it (raw key, value and headers)."""
    return Message(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value,
        headers=_headers(record.headers),
    )


def _headers(
    headers: Sequence[tuple[str, bytes]] | Mapping[str, bytes] | None,
) -> list[tuple[str, str | bytes | None]] | None:
    if not headers:
        return None
    return list(headers.items()) if isinstance(headers, Mapping) else list(headers)
