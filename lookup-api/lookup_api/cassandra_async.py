"""The driver's ``execute_async`` as an asyncio future, without a thread per request.

The driver completes a ``ResponseFuture`` on its own IO thread; the callbacks only hand the rows (or the
error) to the event loop with ``call_soon_threadsafe``. Pages after the first are fetched from the callback,
so a multi-page result still resolves once, with every row.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from cassandra.cluster import Session
from cassandra.query import PreparedStatement

Row = tuple[Any, ...]


def _resolve(future: asyncio.Future[list[Row]], rows: list[Row]) -> None:
    if not future.done():  # the awaiting request may have been cancelled meanwhile
        future.set_result(rows)


def _fail(future: asyncio.Future[list[Row]], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


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
    rows: list[Row] = []

    def on_page(page: list[Row]) -> None:
        rows.extend(page)
        if response.has_more_pages:
            response.start_fetching_next_page()  # calls on_page again with the next page
        else:
            loop.call_soon_threadsafe(_resolve, future, rows)

    def on_error(error: BaseException) -> None:
        loop.call_soon_threadsafe(_fail, future, translate(error))

    response.add_callbacks(on_page, on_error)
    return future
