"""Single lookups answered by the hot path (lookup_api.hot_path) are the answers the Starlette route gives:
same status, body and headers, for successes and for every error, with the same metrics and spans; and the
real server on granian's RSGI interface (lookup_api.rsgi) answers every route as the ASGI app does."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from lookup_api.app import LookupApp, create_app
from lookup_api.config import ApiSettings
from lookup_api.keys import KeyAdmin
from scorecast.settings import Settings
from tests.integration.lookup_api.conftest import FAST, Rows, running_api, unique

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class ThroughStarlette:
    """The same app with the hot path bypassed: every request goes through Starlette's route."""

    def __init__(self, app: LookupApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await Starlette.__call__(self.app, scope, receive, send)


@pytest.fixture(scope="module")
def model(rows: Rows) -> str:
    name = unique("hot")
    rows.model(name, [1, 2], {"champion": [1], "challenger": [2]})
    rows.prediction(name, 1, "card-1", 0.25, trace_id="4bf92f3577b34da6a3ce929d0e0e4736")
    rows.prediction(name, 2, "card-1", 0.75)
    return name


@pytest.fixture(scope="module")
def tokens(keys: KeyAdmin, model: str) -> dict[str, str]:
    _, reader = keys.create(unique("reader"), [model], rate_limit_rps=0)
    _, other = keys.create(unique("other"), ["someone-else"], rate_limit_rps=0)
    revoked_key, revoked = keys.create(unique("revoked"), [model], rate_limit_rps=0)
    keys.revoke(revoked_key.key_id)
    _, slow = keys.create(unique("slow"), [model], rate_limit_rps=1)
    return {"reader": reader, "other": other, "revoked": revoked, "slow": slow}


def _requests(model: str, tokens: dict[str, str]) -> list[tuple[str, dict[str, str]]]:
    bearer = {"Authorization": f"Bearer {tokens['reader']}"}
    return [
        (f"/v1/predictions/{model}/card-1", bearer),
        (f"/v1/predictions/{model}/card-1", {"X-API-Key": tokens["reader"]}),
        (f"/v1/predictions/{model}/card-1?alias=challenger", bearer),
        (f"/v1/predictions/{model}/card-1?version=2", bearer),
        (f"/v1/predictions/{model}/card-1?version=9", bearer),  # 404: no such version
        (f"/v1/predictions/{model}/card-1?alias=nobody", bearer),
        (f"/v1/predictions/{model}/card-1?alias=challenger&version=2", bearer),
        (f"/v1/predictions/{model}/card-1?colour=red", bearer),
        (f"/v1/predictions/{model}/card-1?version=1&version=2", bearer),
        (f"/v1/predictions/{model}/card-1?version=x", bearer),
        (f"/v1/predictions/{model}/card-404", bearer),
        (f"/v1/predictions/{unique('nomodel')}/card-1", {"X-API-Key": tokens["other"]}),
        (f"/v1/predictions/{model}/card-1", {"X-API-Key": tokens["other"]}),  # 403
        ("/v1/predictions/-bad/card-1", bearer),
        (f"/v1/predictions/{model}/{'x' * 300}", bearer),
        (f"/v1/predictions/{model}/card%201", bearer),
        (f"/v1/predictions/{model}/card-1", {}),  # 401 missing
        (f"/v1/predictions/{model}/card-1", {"Authorization": "Basic abc"}),
        (f"/v1/predictions/{model}/card-1", {"Authorization": "Bearer sck_nope_nope"}),
        (f"/v1/predictions/{model}/card-1", {"X-API-Key": tokens["revoked"]}),
        (f"/v1/predictions/{model}/card-1", {"X-API-Key": tokens["slow"]}),  # the first is allowed
        (f"/v1/predictions/{model}/card-1", {"X-API-Key": tokens["slow"]}),  # 429
    ]


def _comparable(response: httpx.Response) -> tuple[int, Any, dict[str, str]]:
    """Status, body and headers, less what changes between two reads of one row (its age, hence the length)
    and what a real server adds (date, server, connection, its host in a redirect)."""
    if response.request.method != "HEAD":
        assert int(response.headers["content-length"]) == len(response.content)
    # a server closes a connection whose request body it did not read (the 413) as it sees fit
    added = ("content-length", "date", "server", "connection")
    headers = {k: v for k, v in response.headers.items() if k not in added}
    if "allow" in headers:  # Starlette lists a set of methods, in no fixed order
        headers["allow"] = ", ".join(sorted(headers["allow"].split(", ")))
    if "location" in headers:  # a redirect names the host it was asked on
        headers["location"] = httpx.URL(headers["location"]).raw_path.decode()
    if not response.headers.get("content-type", "").startswith("application/json") or not response.content:
        return response.status_code, response.content, headers
    body = response.json()
    if isinstance(body, dict):
        body.pop("age_ms", None)
        for result in body.get("results", []):
            result.pop("age_ms", None)
    return response.status_code, body, headers


async def _answers(asgi: Any, app: LookupApp, requests: list[tuple[str, dict[str, str]]]) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=asgi, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://api") as client,
    ):
        return [await _send(client, path, headers) for path, headers in requests]


async def _send(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> httpx.Response:
    """``path`` is a GET's, or ``"METHOD path"``, or ``"POST path|body"`` (a JSON body)."""
    method, _, target = path.partition(" ") if " " in path else ("GET", "", path)
    target, _, body = target.partition("|")
    if method == "POST":
        headers = {"content-type": "application/json", **headers}
    return await client.request(method, target, headers=headers, content=body.encode() if body else None)


def test_hot_path_answers_as_the_starlette_route(api_keyspace: Settings, model: str, tokens: dict[str, str]) -> None:
    requests = _requests(model, tokens)
    hot_app = create_app(api_keyspace, ApiSettings.model_validate(FAST))
    hot = asyncio.run(_answers(hot_app, hot_app, requests))
    plain_app = create_app(api_keyspace, ApiSettings.model_validate(FAST))
    plain = asyncio.run(_answers(ThroughStarlette(plain_app), plain_app, requests))
    statuses = [r.status_code for r in hot]
    assert statuses[:16] == [200, 200, 200, 200, 404, 404, 400, 400, 400, 400, 404, 403, 403, 400, 400, 400]
    assert statuses[16:] == [401, 401, 401, 401, 200, 429]
    assert hot[0].json()["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    for (path, _), one, other in zip(requests, hot, plain, strict=True):
        assert _comparable(one) == _comparable(other), path
    # and the same latency series, labelled with the route template
    assert _series(hot_app) == _series(plain_app)


def _series(app: LookupApp) -> dict[str, float]:
    return {
        f"{sample.labels['status']}": sample.value
        for metric in app.state.metrics.latency.collect()
        for sample in metric.samples
        if sample.name.endswith("_count") and sample.labels["route"] == "/v1/predictions/{model}/{entity_id}"
    }


def test_hot_path_spans_are_the_routes_spans(api_keyspace: Settings, model: str) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    api = ApiSettings.model_validate({**FAST, "auth_enabled": False})
    requests = [(f"/v1/predictions/{model}/card-1", {"traceparent": TRACEPARENT}), (f"/v1/predictions/{model}/x", {})]
    hot_app = create_app(api_keyspace, api, tracer_provider=provider)
    asyncio.run(_answers(hot_app, hot_app, requests))
    hot = exporter.get_finished_spans()
    exporter.clear()
    plain_app = create_app(api_keyspace, api, tracer_provider=provider)
    asyncio.run(_answers(ThroughStarlette(plain_app), plain_app, requests))
    plain = exporter.get_finished_spans()
    assert [(s.name, dict(s.attributes or {})) for s in hot] == [(s.name, dict(s.attributes or {})) for s in plain]
    assert dict(hot[0].attributes or {})["scorecast.scoring.trace_ids"] == ("4bf92f3577b34da6a3ce929d0e0e4736",)
    assert hot[0].parent is not None
    assert f"{hot[0].parent.trace_id:032x}" == TRACEPARENT.split("-")[1]
    assert dict(hot[1].attributes or {})["http.response.status_code"] == 404


def _other_routes(model: str, tokens: dict[str, str]) -> list[tuple[str, dict[str, str]]]:
    bearer = {"Authorization": f"Bearer {tokens['reader']}"}
    batch = '{"entity_ids": ["card-1", "card-404"]}'
    return [
        (f"POST /v1/predictions/{model}:batch|{batch}", bearer),
        (f"POST /v1/predictions/{model}:batch|{{}}", bearer),
        (f"POST /v1/predictions/{model}:batch|" + '{"entity_ids": ["' + "x" * 3000 + '"]}', bearer),  # 413
        (f"POST /v1/predictions/{model}/card-1|{{}}", bearer),  # 405
        (f"HEAD /v1/predictions/{model}/card-1", bearer),
        (f"/v1/predictions/{model}:batch", bearer),  # 405
        (f"/v1/predictions/{model}/card%3A1", bearer),  # decoded: a valid id without a row, 404
        (f"/v1/predictions/{model}/card-1/", bearer),
        ("/v1/models", bearer),
        ("/v1/models?x=1", bearer),
        ("/no/such/route", bearer),
        ("/healthz", {}),
        ("/readyz", {}),
        ("/openapi.json", {}),
        ("/docs", {}),
    ]


def test_the_rsgi_server_answers_as_the_asgi_app(api_keyspace: Settings, model: str, tokens: dict[str, str]) -> None:
    requests = _requests(model, tokens) + _other_routes(model, tokens)
    # a small body limit: a body past it is still sent whole before the server answers 413 and closes
    app = create_app(api_keyspace, ApiSettings.model_validate({**FAST, "max_body_bytes": 2048}))
    expected = asyncio.run(_answers(ThroughStarlette(app), app, requests))

    async def served(base: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            return [await _send(client, path, headers) for path, headers in requests]

    env = {f"SCORECAST_API_{name.upper()}": str(value) for name, value in FAST.items()}
    with running_api(api_keyspace, "granian", env={**env, "SCORECAST_API_MAX_BODY_BYTES": "2048"}) as base:
        answers = asyncio.run(served(base))
    assert answers[len(_requests(model, tokens)) + 2].status_code == 413
    for (path, _), one, other in zip(requests, answers, expected, strict=True):
        assert _comparable(one) == _comparable(other), path[:80]
