"""Through a real server started by `scorecast api` on a loopback port (granian, with one and two workers, and
uvicorn, still selectable), stopped by SIGTERM; and the CLI's error line."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from lookup_api.keys import KeyAdmin
from scorecast.settings import Settings
from tests.integration.lookup_api.conftest import SCORECAST, Rows, running_api, unique


@pytest.fixture(params=[("granian", 1), ("granian", 2), ("uvicorn", 1)], ids=lambda p: f"{p[0]}-{p[1]}")
def server(api_keyspace: Settings, request: pytest.FixtureRequest) -> Iterator[str]:
    http_server, workers = request.param
    with running_api(api_keyspace, http_server, workers) as base:
        yield base


def test_lookups_through_a_real_server(server: str, rows: Rows, keys: KeyAdmin) -> None:
    model = unique("fraud")
    rows.model(model, [4], {"champion": [4]})
    rows.prediction(model, 4, "card-77", 0.77)
    _, token = keys.create(unique("svc"), [model], rate_limit_rps=1000)
    with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {token}"}, timeout=5) as client:
        one = client.get(f"/v1/predictions/{model}/card-77")
        assert one.status_code == 200
        assert (one.json()["version"], one.json()["score"], one.json()["alias"]) == (4, 0.77, "champion")
        batch = client.post(f"/v1/predictions/{model}:batch", json={"entity_ids": ["card-77", "card-0"]}).json()
        assert ([r["entity_id"] for r in batch["results"]], batch["not_found"]) == (["card-77"], ["card-0"])
        assert client.get("/nowhere").json()["error"]["code"] == "not_found"
        assert httpx.get(f"{server}/v1/models", timeout=5).status_code == 401
        assert "scorecast_api_request_duration_seconds_bucket" in client.get("/metrics").text


def test_cli_errors_are_one_line(api_keyspace: Settings) -> None:
    env = {**os.environ, "SCORECAST_KEYSPACE": api_keyspace.keyspace}
    done = subprocess.run(
        [SCORECAST, "api-keys", "revoke", "nobody-has-this-name"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == ["error: no active API key with key id or name 'nobody-has-this-name'"]
