"""The TTL cache behind aliases, keys and predictions: expiry, one load per key in flight, no cached failures."""

from __future__ import annotations

import asyncio

import pytest

from lookup_api.ttl_cache import AsyncTTLCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_entries_expire_after_the_ttl() -> None:
    clock = Clock()
    cache: AsyncTTLCache[str, int] = AsyncTTLCache(maxsize=10, ttl_s=0.5, timer=clock, refresh_after=1.0)
    loads: list[str] = []

    async def load(value: int) -> int:
        loads.append("x")
        return value

    async def scenario() -> list[int]:
        first = await cache.get("k", lambda: load(1))
        clock.now = 0.49
        cached = await cache.get("k", lambda: load(2))
        clock.now = 0.5
        reloaded = await cache.get("k", lambda: load(3))
        return [first, cached, reloaded]

    assert asyncio.run(scenario()) == [1, 1, 3]
    assert len(loads) == 2
    assert (cache.hits, cache.misses) == (1, 2)


def test_hits_late_in_the_ttl_refresh_in_the_background_without_waiting() -> None:
    clock = Clock()
    cache: AsyncTTLCache[str, int] = AsyncTTLCache(maxsize=10, ttl_s=1.0, timer=clock, refresh_after=0.5)
    version = 1

    async def load() -> int:
        return version

    async def scenario() -> list[int]:
        seen = [await cache.get("k", load)]  # loaded at t=0
        clock.now = 0.4
        seen.append(await cache.get("k", load))  # fresh: no reload
        nonlocal version
        version = 2  # the alias flips
        clock.now = 0.6
        seen.append(await cache.get("k", load))  # still the cached value, but a reload starts
        await asyncio.sleep(0)  # let the background reload finish
        await asyncio.sleep(0)
        seen.append(await cache.get("k", load))
        return seen

    assert asyncio.run(scenario()) == [1, 1, 1, 2]
    assert cache.misses == 1


def test_concurrent_misses_share_one_load() -> None:
    cache: AsyncTTLCache[str, int] = AsyncTTLCache(maxsize=10, ttl_s=10)
    calls = 0

    async def load() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return 42

    async def scenario() -> list[int]:
        return list(await asyncio.gather(*(cache.get("k", load) for _ in range(50))))

    assert asyncio.run(scenario()) == [42] * 50
    assert calls == 1


def test_a_failed_load_is_not_cached() -> None:
    cache: AsyncTTLCache[str, int] = AsyncTTLCache(maxsize=10, ttl_s=10)
    attempts = 0

    async def flaky() -> int:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise ConnectionError("down")
        return 7

    async def scenario() -> int:
        with pytest.raises(ConnectionError):
            await cache.get("k", flaky)
        return await cache.get("k", flaky)

    assert asyncio.run(scenario()) == 7
    assert attempts == 2


def test_a_cancelled_waiter_does_not_cancel_the_shared_load() -> None:
    cache: AsyncTTLCache[str, int] = AsyncTTLCache(maxsize=10, ttl_s=10)

    async def slow() -> int:
        await asyncio.sleep(0.02)
        return 5

    async def scenario() -> int:
        first = asyncio.ensure_future(cache.get("k", slow))
        second = asyncio.ensure_future(cache.get("k", slow))
        await asyncio.sleep(0)
        first.cancel()
        return await second

    assert asyncio.run(scenario()) == 5
    assert len(cache) == 1


def test_size_is_bounded() -> None:
    cache: AsyncTTLCache[int, int] = AsyncTTLCache(maxsize=3, ttl_s=10)

    async def value(i: int) -> int:
        return i

    async def scenario() -> None:
        for i in range(100):
            await cache.get(i, lambda i=i: value(i))  # type: ignore[misc]

    asyncio.run(scenario())
    assert len(cache) == 3
