"""A bounded TTL cache for coroutines, with one load in flight per key (no stampede when an entry expires).

Entries are kept by ``cachetools.TTLCache``; concurrent misses on one key share one load. A failed load is
not cached, so a Cassandra hiccup is retried by the next request. Hits and misses are counted for /metrics.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from cachetools import TTLCache

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class AsyncTTLCache(Generic[K, V]):
    def __init__(self, maxsize: int, ttl_s: float, timer: Callable[[], float] = time.monotonic) -> None:
        self._entries: TTLCache[K, V] = TTLCache(maxsize=maxsize, ttl=ttl_s, timer=timer)
        self._loading: dict[K, asyncio.Future[V]] = {}
        self.hits = 0
        self.misses = 0

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        try:
            value = self._entries[key]
        except KeyError:
            pass
        else:
            self.hits += 1
            return value
        self.misses += 1
        loading = self._loading.get(key)
        if loading is None:
            loading = self._loading[key] = asyncio.ensure_future(load())
            loading.add_done_callback(lambda done: self._settle(key, done))
        # shield: one cancelled request must not cancel the load that other requests wait for
        return await asyncio.shield(loading)

    def _settle(self, key: K, done: asyncio.Future[V]) -> None:
        self._loading.pop(key, None)
        if not done.cancelled() and done.exception() is None:
            self._entries[key] = done.result()

    def invalidate(self, key: K) -> None:
        self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)
