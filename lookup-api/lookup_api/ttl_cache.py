"""A bounded TTL cache for coroutines: one load in flight per key, refreshed ahead of expiry.

Entries are kept by ``cachetools.TTLCache`` and never served more than ``ttl_s`` after their load finished
(so data is at most ``ttl_s`` plus one read old). Once an entry is older than ``refresh_after * ttl_s``,
a hit still answers from it but starts a reload in the background, so steady traffic never waits on an
expiry (no latency spike every TTL); a key nobody asked for lately simply expires. Concurrent misses on one
key share one load; a failed load is not cached, so the next request retries. A hit costs no coroutine:
``peek`` is synchronous and only a miss awaits. Hits and misses are counted for /metrics.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, Literal, TypeVar

from cachetools import TTLCache

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Missing(enum.Enum):
    TOKEN = enum.auto()


MISSING = Missing.TOKEN  # None is a value worth caching (an unknown key), so a miss needs its own marker


class AsyncTTLCache(Generic[K, V]):
    def __init__(
        self, maxsize: int, ttl_s: float, timer: Callable[[], float] = time.monotonic, refresh_after: float = 0.75
    ) -> None:
        self._timer = timer
        self._entries: TTLCache[K, tuple[V, float]] = TTLCache(maxsize=maxsize, ttl=ttl_s, timer=timer)
        self._refresh_at = refresh_after * ttl_s
        self._loading: dict[K, asyncio.Future[V]] = {}
        self.hits = 0
        self.misses = 0

    def peek(self, key: K, load: Callable[[], Awaitable[V]]) -> V | Literal[Missing.TOKEN]:
        """The cached value, or MISSING; a value due for refresh is returned and reloaded in the background."""
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return MISSING
        self.hits += 1
        value, loaded_at = entry
        if self._timer() - loaded_at >= self._refresh_at and key not in self._loading:
            self._start(key, load)
        return value

    async def wait(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        """The value from the load in flight for ``key``, starting one if there is none."""
        loading = self._loading.get(key) or self._start(key, load)
        # shield: one cancelled request must not cancel the load that other requests wait for
        return await asyncio.shield(loading)

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        value = self.peek(key, load)
        return await self.wait(key, load) if value is MISSING else value

    def _start(self, key: K, load: Callable[[], Awaitable[V]]) -> asyncio.Future[V]:
        loading = self._loading[key] = asyncio.ensure_future(load())
        loading.add_done_callback(lambda done: self._settle(key, done))
        return loading

    def _settle(self, key: K, done: asyncio.Future[V]) -> None:
        self._loading.pop(key, None)
        if not done.cancelled() and done.exception() is None:
            self._entries[key] = (done.result(), self._timer())

    def invalidate(self, key: K) -> None:
        self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)
