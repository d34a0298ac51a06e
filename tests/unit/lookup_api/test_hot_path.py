"""The hot route's request parsing (which requests it takes, which headers it reads) and its span policy."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from lookup_api.hot_path import auth_headers, lookup_target
from lookup_api.observability import SpanPolicy
from scorecast.telemetry import tracer_provider


@pytest.mark.parametrize(
    ("method", "path", "target"),
    [
        ("GET", "/v1/predictions/fraud/card-1", ("fraud", "card-1")),
        ("GET", "/v1/predictions/fraud/card:1", ("fraud", "card:1")),
        ("GET", "/v1/predictions/bad model!/x", ("bad model!", "x")),  # validated later: a 400, as before
        ("POST", "/v1/predictions/fraud/card-1", None),  # 405 from Starlette, as before
        ("HEAD", "/v1/predictions/fraud/card-1", None),
        ("GET", "/v1/predictions/fraud:batch", None),
        ("GET", "/v1/predictions/fraud/card-1/", None),  # Starlette's routing decides (redirect or 404)
        ("GET", "/v1/predictions/fraud/a/b", None),
        ("GET", "/v1/predictions//card-1", None),
        ("GET", "/v1/predictions/fraud/", None),
        ("GET", "/v1/models", None),
        ("GET", "/v2/predictions/fraud/card-1", None),
    ],
)
def test_only_single_lookups_take_the_hot_path(method: str, path: str, target: tuple[str, str] | None) -> None:
    assert lookup_target(method, path) == target


def test_auth_headers_keeps_the_first_of_each_and_the_traceparent() -> None:
    raw = [
        (b"host", b"api"),
        (b"x-api-key", b"sck_first"),
        (b"authorization", b"Bearer sck_a"),
        (b"x-api-key", b"sck_second"),
        (b"traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    ]
    headers, traceparent = auth_headers(raw)
    assert headers == {"x-api-key": "sck_first", "authorization": "Bearer sck_a"}
    assert traceparent == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert auth_headers([]) == ({}, None)


def test_no_span_is_made_until_a_processor_would_see_it() -> None:
    provider = tracer_provider(record_unexported=False)
    spans = SpanPolicy(provider.get_tracer("test"), provider)
    assert not spans.recording()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    assert spans.recording()
    spans.start("GET", None).end()
    assert len(exporter.get_finished_spans()) == 1


def test_other_providers_get_a_span_per_request() -> None:
    provider = TracerProvider()
    assert SpanPolicy(provider.get_tracer("test"), provider).recording()
