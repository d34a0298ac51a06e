"""The driver's ``execute_async`` as an asyncio future, without a thread per request.

The driver completes a ``ResponseFuture`` on its own IO thread; its callbacks only put the rows (or the
error) in an inbox and wake the event loop with ``call_soon_threadsafe``, once per batch rather than once
per read: under load many reads complete between two turns of the loop, and each wake-up is a syscall.
Pages after the first are fetched from the callback, so a multi-page result still resolves once.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from collections.abc import Callable, Sequence

from cassandra.cluster import Session
from cassandra.query import PreparedStatement

from lookup_api.connection import Row


class _Inbox:
    """Completions handed from the driver's IO thread to one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._items: deque[tuple[asyncio.Future[list[Row]], list[Row] | None, BaseException | None]] = deque()
        self._scheduled = False

    def put(self, future: asyncio.Future[list[Row]], rows: list[Row] | None, error: BaseException | None) -> None:
        # IO thread. Append first, then check the flag: the loop clears the flag before it drains, so an item
        # is either drained by a drain already scheduled or schedules a new one (at worst one drain too many).
        self._items.append((future, rows, error))
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        self._scheduled = False
        items = self._items
        while items:
            future, rows, error = items.popleft()
            if future.done():  # the awaiting request was cancelled meanwhile
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(rows or [])


_inboxes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Inbox] = weakref.WeakKeyDictionary()


def _inbox(loop: asyncio.AbstractEventLoop) -> _Inbox:
    inbox = _inboxes.get(loop)
    if inbox is None:
        inbox = _inboxes[loop] = _Inbox(loop)
    return inbox


def execute(
    session: Session,
    statement: PreparedStatement,
    params: Sequence[object],
    *,
    profile: str,
    timeout: float,
    translate: Callable[[BaseException], BaseException] = lambda error: error,
) -> asyncio.Future[list[Row]]:
    """Run ``statement`` and resolve to all its rows (tuples when ``profile`` uses ``tuple_factory``).

    ``translate`` maps a driver error to the error the future fails with.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[list[Row]] = loop.create_future()
    try:
        response = session.execute_async(statement, params, timeout=timeout, execution_profile=profile)
    except Exception as error:  # the driver may refuse synchronously (no host, session shut down)
        future.set_exception(translate(error))
        return future
    inbox = _inbox(loop)
    rows: list[Row] = []

    def on_page(page: list[Row]) -> None:
        rows.extend(page)
        if response.has_more_pages:
            response.start_fetching_next_page()  # calls on_page again with the next page
        else:
            inbox.put(future, rows, None)

    def on_error(error: BaseException) -> None:
        inbox.put(future, None, translate(error))

    response.add_callbacks(on_page, on_error)
    return future
