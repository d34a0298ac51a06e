"""The API answers the same with either Cassandra client (``cassandra_client``): single and batch lookups,
alias and version resolution, the registry, key checks, and 503 with a generic reason when Cassandra is away."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from lookup_api.keys import KeyAdmin
from scorecast.settings import Settings
from tests.integration.lookup_api.conftest import Rows, serve, unique
from tests.integration.lookup_api.tcp_proxy import TcpProxy

CLIENTS = ["acsylla", "cassandra-driver"]


def _answers(settings: Settings, client_name: str, requests: list[tuple[str, str, Any, str]]) -> list[Any]:
    """(status, body without the moving ``age_ms``) of each request, through one client."""
    answers = []
    with serve(settings, cassandra_client=client_name) as client:
        for method, path, body, token in requests:
            response = client.request(method, path, json=body, headers={"X-API-Key": token} if token else {})
            payload = response.json()
            for result in [payload, *payload.get("results", [])]:
                result.pop("age_ms", None)
            answers.append((response.status_code, payload))
    return answers


def test_both_clients_give_the_same_answers(api_keyspace: Settings, rows: Rows, keys: KeyAdmin) -> None:
    model, other = unique("fraud"), unique("risk")
    rows.model(model, [1, 2, 3], {"champion": [1], "canary": [2]})
    rows.model(other, [1], {"champion": [1]})
    traced = "4bf92f3577b34da6a3ce929d0e0e4736"
    rows.prediction(model, 1, "card-1", 0.25, trace_id=traced)
    rows.prediction(model, 2, "card-1", 0.75)
    rows.prediction(model, 3, "card-2", 0.5)
    _, token = keys.create(unique("reader"), models=[model])
    unknown = "sck_0123456789ab_" + "A" * 43
    requests = [
        ("GET", f"/v1/predictions/{model}/card-1", None, token),
        ("GET", f"/v1/predictions/{model}/card-1?alias=canary", None, token),
        ("GET", f"/v1/predictions/{model}/card-2?version=3", None, token),
        ("GET", f"/v1/predictions/{model}/card-9", None, token),
        ("POST", f"/v1/predictions/{model}:batch", {"entity_ids": ["card-1", "card-2", "card-9"]}, token),
        ("GET", f"/v1/predictions/{other}/card-1", None, token),
        ("GET", f"/v1/predictions/{model}/card-1", None, unknown),
        ("GET", "/v1/models", None, token),
    ]

    by_client = [_answers(api_keyspace, name, requests) for name in CLIENTS]

    assert by_client[0] == by_client[1]
    statuses = [status for status, _ in by_client[0]]
    assert statuses == [200, 200, 200, 404, 200, 403, 401, 200]
    single, canary, pinned, _, batch, _, _, models = (body for _, body in by_client[0])
    assert (single["version"], single["score"], single["outputs"]) == (1, 0.25, {"p_fraud": 0.25, "p_ok": 0.75})
    assert single["trace_id"] == traced
    assert (canary["version"], canary["score"], canary["trace_id"]) == (2, 0.75, None)
    assert (pinned["version"], pinned["score"]) == (3, 0.5)
    assert [(r["entity_id"], r["trace_id"]) for r in batch["results"]] == [("card-1", traced)]
    assert batch["not_found"] == ["card-2", "card-9"]
    assert [m["model"] for m in models["models"]] == [model]  # the key may read this model only


@pytest.mark.parametrize("client_name", CLIENTS)
def test_either_client_answers_503_when_cassandra_is_unreachable(api_keyspace: Settings, client_name: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = api_keyspace.model_copy(update={"cassandra_port": port})
    with serve(settings, auth_enabled=False, cassandra_client=client_name) as client:
        response = client.get("/v1/predictions/fraud/card-1")
        assert response.status_code == 503
        assert response.json()["error"] == {"code": "unavailable", "message": "Cassandra is unavailable"}
        assert client.get("/readyz").status_code == 503


@pytest.mark.parametrize("client_name", CLIENTS)
def test_cassandra_lost_after_start_is_503_then_served_again(
    api_keyspace: Settings, rows: Rows, client_name: str
) -> None:
    model = unique("fraud")
    rows.model(model, [1], {"champion": [1]})
    rows.prediction(model, 1, "card-1", 0.5)
    proxy = TcpProxy((api_keyspace.cassandra_hosts[0], api_keyspace.cassandra_port))
    settings = api_keyspace.model_copy(update={"cassandra_port": proxy.port})
    try:
        with serve(settings, auth_enabled=False, cassandra_client=client_name, request_timeout_s=1.0) as client:
            assert client.get(f"/v1/predictions/{model}/card-1").status_code == 200

            proxy.cut()
            lost = client.get(f"/v1/predictions/{model}/card-1?version=1")  # past the alias cache: a read
            assert lost.status_code == 503, lost.text
            assert lost.json()["error"] == {"code": "unavailable", "message": "Cassandra is unavailable"}

            proxy.restore()
            deadline = time.monotonic() + 20  # the clients retry a lost node every 0.5-2 s
            while (status := client.get(f"/v1/predictions/{model}/card-1").status_code) != 200:
                assert status == 503
                assert time.monotonic() < deadline, "not served again within 20 s of Cassandra's return"
                time.sleep(0.1)
    finally:
        proxy.close()
