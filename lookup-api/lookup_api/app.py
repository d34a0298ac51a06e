"""The ASGI app: built by a function from settings (no module-level app), one Cassandra session per process.

``create_app(settings, api)`` for tests and embedding; ``app_from_env()`` is the factory the HTTP server
(lookup_api.server) calls in each worker process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager

from opentelemetry.trace import TracerProvider, get_tracer_provider
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from lookup_api.config import ApiSettings
from lookup_api.errors import ApiError, Unavailable, unavailable
from lookup_api.hot_path import JSON_TYPE, PredictionLookups, auth_headers, lookup_target
from lookup_api.observability import Metrics, MetricsServer, SpanPolicy, TelemetryMiddleware
from lookup_api.routes import Routes
from lookup_api.rsgi import RsgiApp, RsgiProtocol, RsgiScope
from lookup_api.service import LookupService
from scorecast.settings import Settings

log = logging.getLogger(__name__)
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


def _error_response(error: ApiError) -> Response:
    return Response(error.body(), status_code=error.status, headers=error.headers, media_type="application/json")


class LookupApp(Starlette):
    """The Starlette app, with single lookups (``GET /v1/predictions/{model}/{entity_id}``) taken first by
    ``hot_path`` and every other request served by Starlette's routes, middleware and error handlers; on
    ASGI, and on granian's RSGI (``rsgi.RsgiApp``)."""

    lookups: PredictionLookups
    rsgi: RsgiApp

    def __rsgi__(self, scope: RsgiScope, protocol: RsgiProtocol) -> Awaitable[None]:
        return self.rsgi(scope, protocol)

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.rsgi.init(loop)

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.rsgi.close(loop)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        target = lookup_target(scope["method"], scope["path"]) if scope["type"] == "http" else None
        if target is None:
            await super().__call__(scope, receive, send)
            return
        headers, traceparent = auth_headers(scope["headers"])
        answer = await self.lookups.answer(target[0], target[1], scope["query_string"], headers, traceparent)
        raw = [(b"content-type", JSON_TYPE.encode()), (b"content-length", str(len(answer.body)).encode())]
        raw += [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in answer.headers.items()]
        await send({"type": "http.response.start", "status": answer.status, "headers": raw})
        await send({"type": "http.response.body", "body": answer.body})


def create_app(
    settings: Settings, api: ApiSettings | None = None, tracer_provider: TracerProvider | None = None
) -> LookupApp:
    api = api or ApiSettings()
    metrics = Metrics(caches=lambda: service.caches())  # noqa: PLW0108 (service is bound on the next line)
    service = LookupService(settings, api, on_rate_limited=lambda key: metrics.rate_limited.labels(key.key_id).inc())
    metrics_server = (
        MetricsServer(metrics.registry, api.metrics_host, api.metrics_port, api.workers)
        if api.metrics_access == "port"
        else None
    )
    routes = Routes(service, metrics)
    provider = tracer_provider or get_tracer_provider()
    spans = SpanPolicy(provider.get_tracer("lookup_api"), provider)

    async def api_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, ApiError)
        return _error_response(error)

    async def cassandra_down(request: Request, error: Exception) -> Response:
        return _error_response(unavailable(str(error), api.retry_after_s))

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        code = _HTTP_CODES.get(error.status_code, "http_error")
        message = "no such route" if error.status_code == 404 else str(error.detail)
        return _error_response(ApiError(error.status_code, code, message, error.headers))

    async def bug(request: Request, error: Exception) -> Response:
        # logged with its traceback by the server; the client gets no internals
        return _error_response(ApiError(500, "internal", "internal error"))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if metrics_server is not None:
            metrics_server.start()
        await service.store.start()
        try:
            yield
        finally:
            if metrics_server is not None:
                metrics_server.stop()
            await service.store.stop()

    app = LookupApp(
        routes=routes.routes(),
        middleware=[Middleware(TelemetryMiddleware, metrics=metrics, spans=spans)],
        exception_handlers={
            ApiError: api_error,
            Unavailable: cassandra_down,
            HTTPException: http_error,
            Exception: bug,
        },
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.metrics = metrics
    app.lookups = PredictionLookups(service, metrics, spans)
    app.rsgi = RsgiApp(Starlette.__call__.__get__(app), app.lookups, lifespan(app))
    return app


def app_from_env() -> LookupApp:
    """Factory for the server's workers: settings from the environment, OpenTelemetry configured per process."""
    from scorecast.telemetry import configure

    # The API is a leaf (its spans propagate nowhere), so it may skip recording spans while nothing exports
    # them: ~30 µs a request. Adding a span processor turns them on, sampled as OTEL_TRACES_SAMPLER says.
    configure("scorecast-lookup-api", record_unexported=False)
    return create_app(Settings(), ApiSettings())
