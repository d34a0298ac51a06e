"""With Cassandra unreachable the app still starts; reads answer 503 with Retry-After, health stays 200."""

from __future__ import annotations

import socket

from scorecast.settings import Settings
from tests.integration.lookup_api.conftest import serve


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # nothing listens there once the probe socket is closed


def test_unreachable_cassandra_is_503_not_500(api_keyspace: Settings) -> None:
    settings = api_keyspace.model_copy(update={"cassandra_port": _closed_port(), "cassandra_hosts": ["127.0.0.1"]})
    key = "sck_0123456789ab_" + "A" * 43
    with serve(settings, retry_after_s=3, reconnect_interval_s=0.05) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.headers["retry-after"] == "3"
        assert ready.json()["error"]["code"] == "not_ready"
        for response in [
            client.get("/v1/predictions/fraud/card-1", headers={"X-API-Key": key}),
            client.post("/v1/predictions/fraud:batch", json={"entity_ids": ["a"]}, headers={"X-API-Key": key}),
            client.get("/v1/models", headers={"X-API-Key": key}),
        ]:
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"] == "3"
            assert response.json()["error"]["code"] == "unavailable"
        # bad input is still the client's mistake, even while Cassandra is away
        assert client.get("/v1/predictions/fraud/card-1").status_code == 401


def test_unreachable_cassandra_without_auth(api_keyspace: Settings) -> None:
    settings = api_keyspace.model_copy(update={"cassandra_port": _closed_port()})
    with serve(settings, auth_enabled=False) as client:
        response = client.get("/v1/predictions/fraud/card-1")
        assert response.status_code == 503
        assert "Cassandra" in response.json()["error"]["message"]
        assert client.get("/v1/predictions/fraud/bad%20id").status_code == 400
