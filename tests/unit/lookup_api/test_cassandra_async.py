"""Completions from another thread reach the event loop, all of them, in batches."""

from __future__ import annotations

import asyncio
import threading

import pytest

from lookup_api.cassandra_async import _Inbox
from lookup_api.connection import Row


def test_completions_from_a_foreign_thread_all_arrive_with_fewer_wakeups_than_items() -> None:
    async def scenario() -> tuple[list[list[Row]], int]:
        loop = asyncio.get_running_loop()
        inbox = _Inbox(loop)
        drains = 0
        original = inbox._drain

        def counting_drain() -> None:
            nonlocal drains
            drains += 1
            original()

        inbox._drain = counting_drain  # type: ignore[method-assign]
        futures = [loop.create_future() for _ in range(2000)]
        failed: asyncio.Future[list[Row]] = loop.create_future()

        def io_thread() -> None:  # what the driver's IO thread does
            for i, future in enumerate(futures):
                inbox.put(future, [(i,)], None)
            inbox.put(failed, None, TimeoutError("replica timed out"))

        worker = threading.Thread(target=io_thread)
        worker.start()
        results = await asyncio.gather(*futures)
        with pytest.raises(TimeoutError, match="replica timed out"):
            await failed
        worker.join()
        return results, drains

    results, drains = asyncio.run(scenario())
    assert results == [[(i,)] for i in range(2000)]
    assert 1 <= drains < 2000


def test_a_cancelled_request_is_skipped() -> None:
    async def scenario() -> bool:
        loop = asyncio.get_running_loop()
        inbox = _Inbox(loop)
        cancelled: asyncio.Future[list[Row]] = loop.create_future()
        cancelled.cancel()
        kept: asyncio.Future[list[Row]] = loop.create_future()
        inbox.put(cancelled, [(1,)], None)
        inbox.put(kept, [(2,)], None)
        return await kept == [(2,)]

    assert asyncio.run(scenario())
