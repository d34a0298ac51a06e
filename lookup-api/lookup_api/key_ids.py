"""Which API key ids exist: the whole set, read at most once per key TTL, so an unknown id costs no read.

A token's key id is looked up in this set before its key record is read. Made-up tokens are then refused
from memory: 1,000 random ids cost at most one read of the set per TTL instead of 1,000 partition reads, and
they never enter the key cache, so they cannot push real keys' records out of it. This is the negative cache
of unknown ids, bounded by the number of keys rather than by what callers send (12-character ids: 100k keys
take ~10 MB). A key created after the set was read is accepted once it is read again: within ``key_ttl_ms``,
the bound a revoke already has.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from lookup_api.connection import Row
from lookup_api.ttl_cache import AsyncTTLCache


class KeyIds:
    def __init__(
        self, read_all: Callable[[], Awaitable[list[Row]]], ttl_s: float, timer: Callable[[], float] = time.monotonic
    ) -> None:
        self._read_all = read_all
        # re-read only once expired (no refresh ahead): a steady flood of unknown ids costs one read per TTL
        self.cache: AsyncTTLCache[None, frozenset[str]] = AsyncTTLCache(1, ttl_s, timer, refresh_after=1.0)

    async def exists(self, key_id: str) -> bool:
        return key_id in await self.cache.get(None, self._load)

    async def _load(self) -> frozenset[str]:
        return frozenset(str(row[0]) for row in await self._read_all())
