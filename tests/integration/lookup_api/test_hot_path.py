"""Single lookups answered by the hot path (lookup_api.hot_path) are the answers the Starlette route gives:
same status, body and headers, for successes and for every error, with the same metrics and spans."""

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
from tests.integration.lookup_api.conftest import FAST, Rows, unique

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
    """Status, body and headers, less what changes between two reads of one row (its age, hence the length)."""
    assert int(response.headers["content-length"]) == len(response.content)
    headers = {k: v for k, v in response.headers.items() if k != "content-length"}
    body = response.json()
    body.pop("age_ms", None)
    return response.status_code, body, headers


async def _answers(asgi: Any, app: LookupApp, requests: list[tuple[str, dict[str, str]]]) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=asgi, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://api") as client,
    ):
        return [await client.get(path, headers=headers) for path, headers in requests]


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
