"""The hot route, ``GET /v1/predictions/{model}/{entity_id}``, answered without Starlette.

Starlette's routing, middleware stack and Request/Response objects cost about as much CPU as the Cassandra
read itself. This path takes the request's raw parts (path, query string, the few headers it reads) and
answers with ready bytes, through the same service calls, errors and telemetry as the Starlette route
(``Routes.prediction`` and ``TelemetryMiddleware``), which still serve every other route and method.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping

import orjson
from starlette.datastructures import QueryParams

from lookup_api.auth import HeaderSource
from lookup_api.errors import JSON_OPTIONS, ApiError, Unavailable, unavailable
from lookup_api.observability import Metrics, SpanPolicy, finish_span
from lookup_api.service import LookupService
from lookup_api.validation import Selector, check_entity_id, check_model, query_selector

log = logging.getLogger(__name__)
PREFIX = "/v1/predictions/"
ROUTE = "/v1/predictions/{model}/{entity_id}"
JSON_TYPE = "application/json"
INTERNAL = ApiError(500, "internal", "internal error")
_NO_SELECTOR = Selector()


class Answer:
    """Status, body and any extra headers of one answer (content type and length are the caller's)."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        self.status = status
        self.body = body
        self.headers = headers


def lookup_target(method: str, path: str) -> tuple[str, str] | None:
    """``(model, entity_id)`` when the request is a single lookup (Starlette's ``[^/]+`` segments), else None."""
    if method != "GET" or not path.startswith(PREFIX):
        return None
    model, slash, entity_id = path[len(PREFIX) :].partition("/")
    if not slash or not model or not entity_id or "/" in entity_id:
        return None
    return model, entity_id


class PredictionLookups:
    """Single lookups end to end: auth, validation, the read, the JSON answer, the latency histogram, a span."""

    def __init__(self, service: LookupService, metrics: Metrics, spans: SpanPolicy) -> None:
        self._service = service
        self._auth = service.api.auth_enabled
        self._retry_after_s = service.api.retry_after_s
        self._observe = metrics.observer(ROUTE, "GET")
        self._spans = spans

    async def answer(
        self, model: str, entity_id: str, query: bytes | str, headers: HeaderSource, traceparent: str | None
    ) -> Answer:
        """The answer to one lookup; ``headers`` holds at least ``authorization`` and ``x-api-key`` if sent."""
        start = time.perf_counter()
        span = self._spans.start("GET", traceparent) if self._spans.recording() else None
        scored_in: list[str] | None = None
        try:
            answer, scored_in = await self._lookup(model, entity_id, query, headers)
        except ApiError as error:
            answer = Answer(error.status, error.body(), error.headers)
        except Unavailable as error:
            down = unavailable(str(error), self._retry_after_s)
            answer = Answer(down.status, down.body(), down.headers)
        except Exception:  # a bug: logged with its traceback, the client gets no internals
            log.exception("error answering GET %s", ROUTE)
            answer = Answer(INTERNAL.status, INTERNAL.body(), INTERNAL.headers)
        if span is not None:
            finish_span(span, "GET", ROUTE, answer.status, model, scored_in)
        self._observe(answer.status, time.perf_counter() - start)
        return answer

    async def _lookup(
        self, model: str, entity_id: str, query: bytes | str, headers: HeaderSource
    ) -> tuple[Answer, list[str] | None]:
        service = self._service
        key = await service.auth.authenticate(headers) if self._auth else None
        check_model(model)
        check_entity_id(entity_id)
        found = await service.prediction(key, model, entity_id, _selector(query) if query else _NO_SELECTOR)
        trace_id = found["trace_id"]
        return Answer(200, orjson.dumps(found, option=JSON_OPTIONS), {}), None if trace_id is None else [trace_id]


def _selector(query: bytes | str) -> Selector:
    params = QueryParams(query)
    return query_selector(params, {name: params.getlist(name) for name in params})


def auth_headers(raw: Iterable[tuple[bytes, bytes]]) -> tuple[dict[str, str], str | None]:
    """The headers the lookup reads, from ASGI's raw (lowercase name, value) pairs: the first of each name."""
    wanted: dict[str, str] = {}
    traceparent = None
    for name, value in raw:
        if name == b"authorization" or name == b"x-api-key":  # noqa: PLR1714 (bytes: no set of str to test)
            wanted.setdefault(name.decode("latin-1"), value.decode("latin-1"))
        elif name == b"traceparent" and traceparent is None:
            traceparent = value.decode("latin-1")
    return wanted, traceparent
