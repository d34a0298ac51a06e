"""The app on granian's RSGI interface: single lookups answered straight from granian's request object, every
other request handed to the ASGI app (Starlette) through a small bridge.

RSGI passes the request as one native object and takes the answer in one call (``response_bytes``), where ASGI
builds a scope dict and exchanges message dicts; the lifespan runs in the worker's init and delete hooks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from starlette.types import ASGIApp, Message

from lookup_api.hot_path import JSON_TYPE, PredictionLookups, lookup_target


class RsgiHeaders(Protocol):
    def get(self, key: str, default: Any = None) -> Any: ...
    def items(self) -> list[tuple[str, str]]: ...


class RsgiScope(Protocol):
    proto: str
    http_version: str
    server: str
    client: str
    scheme: str
    method: str
    path: str
    query_string: str

    @property
    def headers(self) -> RsgiHeaders: ...


class RsgiProtocol(Protocol):
    def __aiter__(self) -> AsyncIterator[bytes]: ...
    async def client_disconnect(self) -> None: ...
    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None: ...


class RsgiApp:
    """``__rsgi__`` and its lifespan hooks for an ASGI app whose single lookups ``lookups`` answers."""

    def __init__(self, asgi: ASGIApp, lookups: PredictionLookups, lifespan: AbstractAsyncContextManager[Any]) -> None:
        self._asgi = asgi
        self._lookups = lookups
        self._lifespan = lifespan

    def init(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run the lifespan's start-up (granian calls this in each worker before it serves)."""
        loop.run_until_complete(self._lifespan.__aenter__())

    def close(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run the lifespan's shutdown (granian calls this once the worker stopped serving)."""
        loop.run_until_complete(self._lifespan.__aexit__(None, None, None))

    async def __call__(self, scope: RsgiScope, protocol: RsgiProtocol) -> None:
        if scope.proto != "http":  # no websockets here
            return
        target = lookup_target(scope.method, scope.path)
        if target is None:
            await _through_asgi(self._asgi, scope, protocol)
            return
        headers = scope.headers
        answer = await self._lookups.answer(
            target[0], target[1], scope.query_string, headers, headers.get("traceparent")
        )
        protocol.response_bytes(answer.status, [("content-type", JSON_TYPE), *answer.headers.items()], answer.body)


async def _through_asgi(app: ASGIApp, scope: RsgiScope, protocol: RsgiProtocol) -> None:
    """Serve one request with the ASGI app: the body streamed in as it comes, the answer sent in one piece."""
    chunks = protocol.__aiter__()
    body_done = False
    status = 500
    headers: list[tuple[str, str]] = []
    body = bytearray()

    async def receive() -> Message:
        nonlocal body_done
        if not body_done:
            try:
                return {"type": "http.request", "body": await chunks.__anext__(), "more_body": True}
            except StopAsyncIteration:
                body_done = True
                return {"type": "http.request", "body": b"", "more_body": False}
        await protocol.client_disconnect()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status = message["status"]
            headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", [])]
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))
            if not message.get("more_body", False):
                protocol.response_bytes(status, headers, bytes(body))

    host, _, port = scope.server.rpartition(":")
    client_host, _, client_port = scope.client.rpartition(":")
    asgi_scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": scope.http_version,
        "method": scope.method,
        "scheme": scope.scheme,
        "path": scope.path,
        "raw_path": scope.path.encode(),
        "query_string": scope.query_string.encode("latin-1"),
        "root_path": "",
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in scope.headers.items()],
        "server": (host, int(port)) if port.isdigit() else None,
        "client": (client_host, int(client_port)) if client_port.isdigit() else None,
        "state": {},
    }
    await app(asgi_scope, receive, send)
