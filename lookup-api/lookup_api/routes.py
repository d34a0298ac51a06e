"""The HTTP transport: parse and check a request, call the lookup core, answer JSON. No lookup logic here."""

from __future__ import annotations

from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from lookup_api.errors import JSON_OPTIONS, ApiError
from lookup_api.keys import ApiKey
from lookup_api.observability import Metrics, point_to_scoring
from lookup_api.openapi import docs_page, document
from lookup_api.service import LookupService
from lookup_api.validation import Selector, batch_request, check_entity_id, check_model, query_selector


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=JSON_OPTIONS)


class Routes:
    def __init__(self, service: LookupService, metrics: Metrics) -> None:
        self.service = service
        self.api = service.api
        self.metrics = metrics
        self.openapi = orjson.dumps(document(self.api.batch_max))
        self.docs = docs_page(document(self.api.batch_max))

    def routes(self) -> list[Route]:
        return [
            Route("/v1/predictions/{model}/{entity_id}", self.prediction, methods=["GET"]),
            Route("/v1/predictions/{model}:batch", self.batch, methods=["POST"]),
            Route("/v1/models", self.models, methods=["GET"]),
            Route("/healthz", self.health, methods=["GET"]),
            Route("/readyz", self.ready, methods=["GET"]),
            Route("/openapi.json", self.openapi_json, methods=["GET"]),
            Route("/docs", self.docs_html, methods=["GET"]),
            # with metrics_access=port they are served on their own port instead (observability.MetricsServer)
            *([Route("/metrics", self.prometheus, methods=["GET"])] if self.api.metrics_access == "auth" else []),
        ]

    async def _key(self, request: Request) -> ApiKey | None:
        if not self.api.auth_enabled:
            return None
        return await self.service.auth.authenticate(request.headers)

    async def prediction(self, request: Request) -> Response:
        key = await self._key(request)
        model = check_model(request.path_params["model"])
        entity_id = check_entity_id(request.path_params["entity_id"])
        selector = _selector(request)
        answer = await self.service.prediction(key, model, entity_id, selector)
        if answer["trace_id"] is not None:
            point_to_scoring(request.scope, (answer["trace_id"],))
        return JSONResponse(answer)

    async def batch(self, request: Request) -> Response:
        key = await self._key(request)
        model = check_model(request.path_params["model"])
        selector = _selector(request)
        content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise ApiError(415, "unsupported_media_type", "send the body as application/json")
        body = await _read_body(request, self.api.max_body_bytes)
        parsed = batch_request(body, selector, self.api.batch_max)
        answer = await self.service.batch(key, model, parsed)
        point_to_scoring(request.scope, (r["trace_id"] for r in answer["results"]))
        return JSONResponse(answer)

    async def models(self, request: Request) -> Response:
        key = await self._key(request)
        if request.query_params:
            raise ApiError(400, "invalid_parameter", "/v1/models takes no query parameters")
        return JSONResponse(await self.service.models(key))

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "up"})

    async def ready(self, request: Request) -> Response:
        ok, reason = await self.service.ready()
        if ok:
            return JSONResponse({"status": "ready"})
        error = {"error": {"code": "not_ready", "message": reason}}
        return JSONResponse(error, status_code=503, headers={"Retry-After": str(self.api.retry_after_s)})

    async def prometheus(self, request: Request) -> Response:
        await self._key(request)  # any valid key, like a read (and counted against its rate limit)
        return Response(generate_latest(self.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def openapi_json(self, request: Request) -> Response:
        return Response(self.openapi, media_type="application/json")

    async def docs_html(self, request: Request) -> Response:
        return HTMLResponse(self.docs)


def _selector(request: Request) -> Selector:
    if not request.scope["query_string"]:  # the common case: no parsing at all
        return Selector()
    params = request.query_params
    return query_selector(params, {name: params.getlist(name) for name in params})


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes ``limit`` bytes (never buffered beyond that)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "body_too_large", f"request body is larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ApiError(413, "body_too_large", f"request body is larger than {limit} bytes")
    return bytes(body)
