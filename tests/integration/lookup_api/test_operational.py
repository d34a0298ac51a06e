"""The operational endpoints give nothing away and cost Cassandra little: /readyz is cached and generic,
unknown API keys cost no read each, /metrics needs a key (or has a port of its own) and names key ids only.

Reads are counted where the app meets the driver (``Session.execute_async``), against the real Cassandra.
"""

from __future__ import annotations

import socket
import time
from collections import Counter

import httpx
import pytest
from cassandra.cluster import Session

from lookup_api.keys import KeyAdmin, new_token
from scorecast.settings import Settings
from tests.integration.lookup_api.conftest import Rows, serve, unique
from tests.scrape import samples, scrape


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Requests sent to Cassandra by this process, by table read ("system.local", "api_keys", ...)."""
    counted: Counter[str] = Counter()
    execute_async = Session.execute_async

    def counting(self: Session, query: object, *args: object, **kwargs: object) -> object:
        text = str(getattr(query, "query_string", query))
        table = text.split(" FROM ", 1)[-1].split(maxsplit=1)[0] if " FROM " in text else text
        counted[table] += 1
        return execute_async(self, query, *args, **kwargs)

    monkeypatch.setattr(Session, "execute_async", counting)
    return counted


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture(scope="module")
def model(rows: Rows) -> str:
    name = unique("ops")
    rows.model(name, [1], {"champion": [1]})
    rows.prediction(name, 1, "card-1", 0.4)
    return name


def test_readiness_is_read_at_most_once_per_cache_period(api_keyspace: Settings, reads: Counter[str]) -> None:
    with serve(api_keyspace) as client:
        reads.clear()
        started = time.monotonic()
        answers = [client.get("/readyz") for _ in range(200)]
        elapsed = time.monotonic() - started
    assert {a.status_code for a in answers} == {200}
    assert reads["system.local"] <= 1 + int(elapsed / 1.0)  # default SCORECAST_API_READY_CACHE_MS: 1000


def test_not_ready_and_unavailable_give_a_generic_reason(api_keyspace: Settings) -> None:
    port = _free_port()  # nothing listens there once the probe socket is closed
    settings = api_keyspace.model_copy(update={"cassandra_port": port, "cassandra_hosts": ["127.0.0.1"]})
    with serve(settings, auth_enabled=False, reconnect_interval_s=0.05) as client:
        ready = client.get("/readyz")
        read = client.get("/v1/predictions/fraud/card-1")
    assert (ready.status_code, read.status_code) == (503, 503)
    assert ready.json()["error"] == {"code": "not_ready", "message": "Cassandra is unavailable"}
    assert read.json()["error"] == {"code": "unavailable", "message": "Cassandra is unavailable"}


def test_unknown_key_ids_cost_no_cassandra_read_each(
    api_keyspace: Settings, keys: KeyAdmin, model: str, reads: Counter[str]
) -> None:
    _, token = keys.create(unique("svc"), rate_limit_rps=0)
    with serve(api_keyspace, key_ttl_ms=1000) as client:
        path = f"/v1/predictions/{model}/card-1"
        assert client.get(path, headers={"X-API-Key": token}).status_code == 200
        reads.clear()
        started = time.monotonic()
        codes = Counter(client.get(path, headers={"X-API-Key": new_token()[1]}).status_code for _ in range(1000))
        elapsed = time.monotonic() - started
        assert codes == Counter({401: 1000})
        # the set of key ids is read whole at most once per key TTL; no read per unknown id
        assert reads["api_keys"] <= 1 + int(elapsed / 1.0)
        assert client.get(path, headers={"X-API-Key": token}).status_code == 200

        # a key created now is accepted within the key TTL (the same bound as a revoke)
        _, fresh = keys.create(unique("new"), rate_limit_rps=0)
        created = time.monotonic()
        while client.get(path, headers={"X-API-Key": fresh}).status_code == 401:
            # key TTL, plus one read and scheduling slack on a busy box
            assert time.monotonic() - created < 1.0 + 1.0, "a new key was not accepted within the key TTL"
            time.sleep(0.02)


def test_metrics_need_an_api_key_and_name_key_ids_only(api_keyspace: Settings, keys: KeyAdmin, model: str) -> None:
    name = unique("tenant")
    key, token = keys.create(name, rate_limit_rps=1)
    with serve(api_keyspace) as client:
        assert client.get("/metrics").status_code == 401
        headers = {"X-API-Key": token}
        statuses = [client.get(f"/v1/predictions/{model}/card-1", headers=headers).status_code for _ in range(6)]
        assert 429 in statuses
        time.sleep(1.0)  # the bucket refills: one scrape's worth
        metrics = client.get("/metrics", headers=headers)
    assert metrics.status_code == 200
    assert f'scorecast_api_rate_limited_total{{key_id="{key.key_id}"}}' in metrics.text
    assert name not in metrics.text


def test_metrics_can_have_a_port_of_their_own(api_keyspace: Settings, keys: KeyAdmin, model: str) -> None:
    port = _free_port()
    _, token = keys.create(unique("svc"), rate_limit_rps=0)
    with serve(api_keyspace, metrics_access="port", metrics_port=port) as client:
        assert client.get(f"/v1/predictions/{model}/card-1", headers={"X-API-Key": token}).status_code == 200
        assert client.get("/metrics", headers={"X-API-Key": token}).status_code == 404
        scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        assert scraped.status_code == 200
        assert "scorecast_api_request_duration_seconds_bucket" in scraped.text
    with pytest.raises(httpx.TransportError):  # closed with the app
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_metrics_include_the_process_metrics(api_keyspace: Settings, keys: KeyAdmin, model: str) -> None:
    port = _free_port()
    _, token = keys.create(unique("svc"), rate_limit_rps=0)
    with serve(api_keyspace, metrics_access="port", metrics_port=port) as client:
        assert client.get(f"/v1/predictions/{model}/card-1", headers={"X-API-Key": token}).status_code == 200
        families = scrape(f"http://127.0.0.1:{port}/metrics")
    names = [family.name for family in families]
    for name in ("process_cpu_seconds", "process_resident_memory_bytes", "process_open_fds", "python_info"):
        assert names.count(name) == 1, name  # registered once
    values = {s.name: s.value for s in samples(families, "process_cpu_seconds_total")}
    assert values["process_cpu_seconds_total"] > 0
    assert samples(families, "process_resident_memory_bytes")[0].value > 10 * 2**20  # a Python process with numpy
    assert samples(families, "process_open_fds")[0].value > 3  # stdio and the Cassandra sockets at least
    started = samples(families, "process_start_time_seconds")[0].value
    assert time.time() - 24 * 3600 < started <= time.time()
