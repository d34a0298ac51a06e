"""Metrics and traces of the API: a Prometheus registry per app and an OpenTelemetry span per request.

The middleware is plain ASGI (no BaseHTTPMiddleware, which costs a task per request). It labels the latency
histogram with the route template, never the raw path, so ids do not explode the label set. Cache hit and
miss counts are read from the caches at scrape time instead of being counted on every request.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.simple_server import WSGIServer

from opentelemetry import propagate
from opentelemetry.trace import Span, SpanKind, Tracer
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lookup_api.ttl_cache import AsyncTTLCache

log = logging.getLogger(__name__)
# Where a route leaves the trace ids of the scorings it served, for the request's span (see ``point_to_scoring``).
SCORING_TRACE_IDS = "scorecast.scoring_trace_ids"
_MAX_TRACE_IDS = 128  # a batch's span names at most this many scorings (like the SDK's span link limit)
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class _CacheCollector(Collector):
    def __init__(self, caches: Callable[[], dict[str, AsyncTTLCache[Any, Any]]]) -> None:
        self._caches = caches

    def collect(self) -> Iterator[Metric]:
        hits = CounterMetricFamily("scorecast_api_cache_hits", "Cache hits", labels=["cache"])
        misses = CounterMetricFamily("scorecast_api_cache_misses", "Cache misses", labels=["cache"])
        for name, cache in self._caches().items():
            hits.add_metric([name], cache.hits)
            misses.add_metric([name], cache.misses)
        yield hits
        yield misses


class Metrics:
    def __init__(self, caches: Callable[[], dict[str, AsyncTTLCache[Any, Any]]]) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "scorecast_api_request_duration_seconds",
            "Time to answer a request, by route template, method and status code",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        # by key id: names are chosen by people (tenants, teams) and are not for whoever scrapes metrics
        self.rate_limited = Counter(
            "scorecast_api_rate_limited", "Requests refused by a key's rate limit", ["key_id"], registry=self.registry
        )
        self.registry.register(_CacheCollector(caches))
        # process_* (CPU seconds, resident memory, open fds, start time) and python_info, read at scrape time
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self._latency_children: dict[tuple[str, str, int], Any] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        # labels() hashes and locks on every call; the few (route, method, status) children are kept here
        child = self._latency_children.get((route, method, status))
        if child is None:
            child = self._latency_children[(route, method, status)] = self.latency.labels(route, method, str(status))
        child.observe(seconds)

    def observer(self, route: str, method: str) -> Callable[[int, float], None]:
        """``observe`` for one route and method: one dict lookup a request instead of a tuple key."""
        children: dict[int, Any] = {}
        latency = self.latency

        def observe(status: int, seconds: float) -> None:
            child = children.get(status)
            if child is None:
                child = children[status] = latency.labels(route, method, str(status))
            child.observe(seconds)

        return observe


class MetricsServer:
    """The registry served on a port of its own (``metrics_access=port``), without auth, in a daemon thread.

    Each worker process has its own registry, so worker i of N binds the first free port of
    ``port .. port + N - 1``; bind it to a private address (the default is loopback).
    """

    def __init__(self, registry: CollectorRegistry, host: str, port: int, workers: int) -> None:
        self._registry = registry
        self._host = host
        self._ports = range(port, port + workers)
        self._server: WSGIServer | None = None
        self.port: int | None = None

    def start(self) -> None:
        for port in self._ports:
            try:
                self._server, _thread = start_http_server(port, addr=self._host, registry=self._registry)
            except OSError:  # taken, by a sibling worker or by something else
                continue
            self.port = port
            log.info("metrics served on %s:%d", self._host, port)
            return
        log.error("no free metrics port in %d..%d; metrics are not served", self._ports[0], self._ports[-1])

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", "unmatched")


class TelemetryMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics, spans: SpanPolicy) -> None:
        self.app = app
        self.metrics = metrics
        self.spans = spans

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        method = scope["method"]
        # not made current: the request creates no child spans, and attaching a context costs per request
        span = self.spans.start(method, _traceparent(scope)) if self.spans.recording() else None
        try:
            await self.app(scope, receive, send_status)
        finally:
            route = _route_template(scope)
            if span is not None:
                model = scope.get("path_params", {}).get("model")
                finish_span(span, method, route, status, model, scope.get(SCORING_TRACE_IDS))
            self.metrics.observe(route, method, status, time.perf_counter() - start)


class SpanPolicy:
    """Server spans of a tracer, and whether to open any: none while no span processor would see them.

    A span that no processor receives is seen by nobody (it is not made current, and the API's answer does not
    carry it), so while scorecast's provider (``scorecast.telemetry``) has no processor none is made. Any
    other provider gets a span per request, as it decides.
    """

    def __init__(self, tracer: Tracer, provider: object) -> None:
        self.tracer = tracer
        # scorecast's SpanProcessors says whether any processor was added; other providers have no such flag
        self._processors = getattr(provider, "_active_span_processor", None)

    def recording(self) -> bool:
        return getattr(self._processors, "exporting", True) is not False

    def start(self, method: str, traceparent: str | None) -> Span:
        context = propagate.extract({"traceparent": traceparent}) if traceparent is not None else None
        return self.tracer.start_span(method, context=context, kind=SpanKind.SERVER)


def finish_span(
    span: Span, method: str, route: str, status: int, model: str | None, scored_in: list[str] | None
) -> None:
    """Name and label a request's span once answered, and end it."""
    if span.is_recording():
        span.update_name(f"{method} {route}")
        span.set_attributes({"http.request.method": method, "http.route": route, "http.response.status_code": status})
        if model is not None:  # never entity ids: they may be personal data
            span.set_attribute("scorecast.model", model)
        if scored_in:  # from this lookup to the traces that scored what it returned
            span.set_attribute("scorecast.scoring.trace_ids", scored_in)
    span.end()


def point_to_scoring(scope: Scope, trace_ids: Iterable[str | None]) -> None:
    """Note the (distinct, at most 128) scoring trace ids of the predictions a request returns, for its span."""
    distinct = dict.fromkeys(t for t in trace_ids if t is not None)
    if distinct:
        scope[SCORING_TRACE_IDS] = list(itertools.islice(distinct, _MAX_TRACE_IDS))


def _traceparent(scope: Scope) -> str | None:
    """The W3C trace context of the request, so the API's span joins the caller's trace."""
    for name, value in scope["headers"]:
        if name == b"traceparent":
            decoded: str = value.decode("latin-1")
            return decoded
    return None
