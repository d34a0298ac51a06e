"""Reading precomputed predictions: the latest row of (model, version, entity), one or many at a time.

Batches run their reads concurrently with at most ``batch_concurrency`` in flight, started from completion
callbacks (no task per read). The optional prediction cache is keyed by (model, version, entity): an alias
flip changes the version, so a cached row of the previous version is never served for the new one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from lookup_api.connection import Row
from lookup_api.errors import UnreadableRowError
from lookup_api.timestamps import OutOfRangeError, from_ms
from lookup_api.ttl_cache import AsyncTTLCache
from scorecast.io.cql.predictions import ServedPrediction

T = TypeVar("T")
ReadLatest = Callable[[str, int, str], Awaitable[list[Row]]]


class Predictions:
    def __init__(self, read: ReadLatest, cache_ttl_s: float = 0.0, cache_max: int = 100_000) -> None:
        self._read = read
        self.cache: AsyncTTLCache[tuple[str, int, str], Row | None] | None = (
            AsyncTTLCache(maxsize=cache_max, ttl_s=cache_ttl_s) if cache_ttl_s > 0 else None
        )

    def latest(self, model: str, version: int, entity_id: str) -> Awaitable[Row | None]:
        """The newest ``(event_id, event_time, score, outputs, scored_at, trace_id)`` row, or None."""
        if self.cache is None:
            return self._uncached(model, version, entity_id)
        return self.cache.get((model, version, entity_id), lambda: self._uncached(model, version, entity_id))

    async def _uncached(self, model: str, version: int, entity_id: str) -> Row | None:
        rows = await self._read(model, version, entity_id)
        return rows[0] if rows else None

    async def many(self, model: str, version: int, entity_ids: Sequence[str], limit: int) -> list[Row | None]:
        return await gather_bounded([self._starter(model, version, e) for e in entity_ids], limit)

    def _starter(self, model: str, version: int, entity_id: str) -> Callable[[], Awaitable[Row | None]]:
        return lambda: self.latest(model, version, entity_id)


async def gather_bounded(starts: Sequence[Callable[[], Awaitable[T]]], limit: int) -> list[T]:
    """Await every ``start()``, at most ``limit`` at a time, in order; the first error fails the whole lot."""
    loop = asyncio.get_running_loop()
    finished: asyncio.Future[None] = loop.create_future()
    results: list[Any] = [None] * len(starts)
    next_index, left = 0, len(starts)

    def launch() -> None:
        nonlocal next_index
        index, next_index = next_index, next_index + 1
        try:
            awaitable = asyncio.ensure_future(starts[index]())
        except Exception as error:
            finished.set_exception(error)
            return
        awaitable.add_done_callback(lambda done: land(index, done))

    def land(index: int, done: asyncio.Future[T]) -> None:
        nonlocal left
        error = asyncio.CancelledError() if done.cancelled() else done.exception()  # always retrieve it
        if finished.done():  # failed or cancelled already: start nothing more
            return
        if error is not None:
            finished.set_exception(error)
            return
        results[index] = done.result()
        left -= 1
        if left == 0:
            finished.set_result(None)
        elif next_index < len(starts):
            launch()

    if not starts:
        return []
    while next_index < min(limit, len(starts)) and not finished.done():
        launch()
    await finished
    return results


def render(row: Row, now_ms: int | None = None) -> dict[str, Any]:
    """The JSON fields of one prediction row; ``age_ms`` is how long ago it was scored.

    The row's timestamps are epoch milliseconds; one that no RFC 3339 time can show raises ``UnreadableRowError``.
    """
    p = ServedPrediction._make(row)
    try:
        event_time, scored_at = from_ms(p.event_time), from_ms(p.scored_at)
    except OutOfRangeError as error:
        name = "event_time" if error.ms == p.event_time else "scored_at"
        message = f"the stored prediction for this entity cannot be served: its {name} ({error})"
        raise UnreadableRowError(message) from None
    # the driver's OrderedMap keeps (key, value) pairs in _items; dict(mapping) would re-serialize each key
    pairs: Any = getattr(p.outputs, "_items", p.outputs)
    if now_ms is None:
        now_ms = time.time_ns() // 1_000_000
    return {
        "score": p.score,
        "outputs": dict(pairs) if p.outputs else {},
        "event_id": p.event_id,
        "event_time": event_time,
        "scored_at": scored_at,
        "age_ms": max(0, now_ms - p.scored_at) if p.scored_at is not None else None,
        "trace_id": p.trace_id,
    }
