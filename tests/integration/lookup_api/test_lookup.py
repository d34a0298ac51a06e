"""Every endpoint against real Cassandra: single and batch lookups, the registry, health, metrics, docs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.testclient import TestClient

from scorecast.settings import Settings
from tests.integration.lookup_api.conftest import Rows, serve, unique


@pytest.fixture(scope="module")
def model(rows: Rows) -> str:
    name = unique("fraud")
    rows.model(name, [1, 2, 3], {"champion": [1], "canary": [2], "challenger": [2, 3]})
    return name


@pytest.fixture(scope="module")
def client(api_keyspace: Settings) -> Iterator[TestClient]:
    with serve(api_keyspace, auth_enabled=False) as client:
        yield client


def test_get_prediction_of_the_serving_alias(client: TestClient, rows: Rows, model: str) -> None:
    rows.prediction(model, 1, "card-000001", 0.10, age=timedelta(seconds=5))
    latest = rows.prediction(model, 1, "card-000001", 0.42)  # the newest event wins
    rows.prediction(model, 2, "card-000001", 0.99)

    response = client.get(f"/v1/predictions/{model}/card-000001")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["entity_id"] == "card-000001"
    assert (body["model"], body["version"], body["alias"]) == (model, 1, "champion")
    assert body["score"] == pytest.approx(0.42)
    assert body["outputs"] == pytest.approx(latest["outputs"])
    assert body["event_id"] == latest["event_id"]
    assert body["scored_at"] == latest["scored_at"].strftime("%Y-%m-%dT%H:%M:%S") + "Z"
    assert body["event_time"].endswith("Z")
    assert 900 <= body["age_ms"] < 60_000  # written one second in the past


def test_alias_and_version_select_other_versions(client: TestClient, rows: Rows, model: str) -> None:
    rows.prediction(model, 2, "card-2", 0.2)
    rows.prediction(model, 3, "card-2", 0.3)
    canary = client.get(f"/v1/predictions/{model}/card-2", params={"alias": "canary"}).json()
    assert (canary["version"], canary["alias"], canary["score"]) == (2, "canary", 0.2)
    pinned = client.get(f"/v1/predictions/{model}/card-2", params={"version": "3"}).json()
    assert (pinned["version"], pinned["alias"], pinned["score"]) == (3, None, 0.3)


def test_batch_returns_found_predictions_in_order_and_the_missing_ids(
    client: TestClient, rows: Rows, model: str
) -> None:
    ids = [f"batch-{i:03d}" for i in range(300)]
    for i, entity_id in enumerate(ids[:250]):
        rows.prediction(model, 1, entity_id, i / 1000)
    asked = [*reversed(ids), ids[0]]  # reversed, with a duplicate

    response = client.post(f"/v1/predictions/{model}:batch", json={"entity_ids": asked})

    assert response.status_code == 200
    body = response.json()
    assert (body["model"], body["version"], body["alias"]) == (model, 1, "champion")
    assert [r["entity_id"] for r in body["results"]] == list(reversed(ids[:250]))
    assert body["not_found"] == list(reversed(ids[250:]))
    assert body["results"][-1]["score"] == 0.0
    fields = {"entity_id", "score", "outputs", "event_id", "event_time", "scored_at", "age_ms", "trace_id"}
    assert set(body["results"][0]) == fields
    assert body["results"][0]["trace_id"] is None  # written without a trace id
    pinned = client.post(f"/v1/predictions/{model}:batch?version=2", json={"entity_ids": ids[:3]}).json()
    assert (pinned["version"], pinned["results"], pinned["not_found"]) == (2, [], ids[:3])


def test_models_lists_versions_and_aliases(client: TestClient, model: str) -> None:
    body = client.get("/v1/models").json()
    entry = next(m for m in body["models"] if m["model"] == model)
    assert [v["version"] for v in entry["versions"]] == [1, 2, 3]
    assert entry["versions"][0]["description"] == "v1"
    assert entry["aliases"] == {"champion": [1], "canary": [2], "challenger": [2, 3]}


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "up"}
    assert client.get("/readyz").json() == {"status": "ready"}


def test_metrics_report_latency_by_route_and_status_and_cache_hits(client: TestClient, model: str) -> None:
    client.get(f"/v1/predictions/{model}/card-000001")
    client.get(f"/v1/predictions/{model}/nobody")
    text = client.get("/metrics").text
    route = 'route="/v1/predictions/{model}/{entity_id}"'
    assert f'scorecast_api_request_duration_seconds_count{{method="GET",{route},status="200"}}' in text
    assert f'scorecast_api_request_duration_seconds_count{{method="GET",{route},status="404"}}' in text
    hits = [line for line in text.splitlines() if line.startswith('scorecast_api_cache_hits_total{cache="alias"}')]
    assert hits
    assert float(hits[0].split()[-1]) >= 1


def test_openapi_and_docs(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert document["openapi"] == "3.1.0"
    assert "/v1/predictions/{model}:batch" in document["paths"]
    page = client.get("/docs")
    assert page.headers["content-type"].startswith("text/html")
    assert "/v1/predictions/{model}/{entity_id}" in page.text


def test_each_request_is_one_server_span(api_keyspace: Settings, model: str) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with serve(api_keyspace, tracer_provider=provider, auth_enabled=False) as client:
        client.get(f"/v1/predictions/{model}/card-000001")
        client.get("/no/such/route")
    spans = list(exporter.get_finished_spans())
    assert [s.name for s in spans] == ["GET /v1/predictions/{model}/{entity_id}", "GET unmatched"]
    attributes = spans[0].attributes or {}
    assert attributes["http.response.status_code"] == 200
    assert attributes["scorecast.model"] == model
    assert "card-000001" not in str(attributes)
