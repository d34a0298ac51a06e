"""API keys against real Cassandra: 401 and 403 kept apart, 429 with Retry-After, revoke, the CLI."""

from __future__ import annotations

import hashlib
import re
import time

import pytest
from cassandra.cluster import Session
from typer.testing import CliRunner

from lookup_api.cli import keys_app
from lookup_api.keys import KeyAdmin
from scorecast.settings import Settings
from tests.integration.lookup_api.conftest import Rows, serve, unique


@pytest.fixture(scope="module")
def models(rows: Rows) -> tuple[str, str]:
    allowed, other = unique("fraud"), unique("risk")
    for name in (allowed, other):
        rows.model(name, [1], {"champion": [1]})
        rows.prediction(name, 1, "card-1", 0.7)
    return allowed, other


def test_missing_unknown_and_forbidden_are_distinct(
    api_keyspace: Settings, keys: KeyAdmin, models: tuple[str, str]
) -> None:
    allowed, other = models
    _, token = keys.create(unique("svc"), [allowed], rate_limit_rps=0)
    with serve(api_keyspace) as client:
        ok = client.get(f"/v1/predictions/{allowed}/card-1", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200
        assert client.get(f"/v1/predictions/{allowed}/card-1", headers={"X-API-Key": token}).status_code == 200

        missing = client.get(f"/v1/predictions/{allowed}/card-1")
        assert (missing.status_code, missing.json()["error"]["code"]) == (401, "missing_api_key")
        assert missing.headers["www-authenticate"].startswith("Bearer")
        forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        unknown = client.get(f"/v1/predictions/{allowed}/card-1", headers={"X-API-Key": forged})
        assert (unknown.status_code, unknown.json()["error"]["code"]) == (401, "invalid_api_key")

        forbidden = client.get(f"/v1/predictions/{other}/card-1", headers={"X-API-Key": token})
        assert (forbidden.status_code, forbidden.json()["error"]["code"]) == (403, "model_not_allowed")
        # 403 comes before 404: a key cannot find out which models exist beyond its own
        hidden = client.get("/v1/predictions/nosuchmodel/card-1", headers={"X-API-Key": token})
        assert hidden.status_code == 403
        batch = client.post(
            f"/v1/predictions/{other}:batch", json={"entity_ids": ["card-1"]}, headers={"X-API-Key": token}
        )
        assert batch.status_code == 403

        listed = client.get("/v1/models", headers={"X-API-Key": token}).json()
        assert [m["model"] for m in listed["models"]] == [allowed]
        assert client.get("/v1/models").status_code == 401
        assert client.get("/healthz").status_code == 200  # probes and docs need no key
        assert client.get("/openapi.json").status_code == 200


def test_rate_limit_answers_429_with_retry_after(
    api_keyspace: Settings, keys: KeyAdmin, models: tuple[str, str]
) -> None:
    allowed, _ = models
    key, token = keys.create(unique("slow"), rate_limit_rps=2)
    with serve(api_keyspace) as client:
        answers = [client.get(f"/v1/predictions/{allowed}/card-1", headers={"X-API-Key": token}) for _ in range(6)]
        statuses = [a.status_code for a in answers]
        assert statuses[:2] == [200, 200]
        assert 429 in statuses
        limited = next(a for a in answers if a.status_code == 429)
        assert limited.json()["error"]["code"] == "rate_limited"
        assert int(limited.headers["retry-after"]) >= 1
        time.sleep(1.0)
        assert client.get(f"/v1/predictions/{allowed}/card-1", headers={"X-API-Key": token}).status_code == 200
        metric = f'scorecast_api_rate_limited_total{{key_id="{key.key_id}"}}'
        scraped = client.get("/metrics", headers={"X-API-Key": token}).text
        line = next(x for x in scraped.splitlines() if x.startswith(metric))
        assert float(line.split()[-1]) == statuses.count(429)


def test_a_revoked_key_is_refused_within_the_key_ttl(
    api_keyspace: Settings, keys: KeyAdmin, models: tuple[str, str]
) -> None:
    allowed, _ = models
    key, token = keys.create(unique("leaked"), rate_limit_rps=0)
    with serve(api_keyspace, key_ttl_ms=300) as client:
        path, headers = f"/v1/predictions/{allowed}/card-1", {"X-API-Key": token}
        assert client.get(path, headers=headers).status_code == 200
        keys.revoke(key.key_id)
        revoked_at = time.monotonic()
        while client.get(path, headers=headers).status_code == 200:
            assert time.monotonic() - revoked_at < 10.0, "revoke not effective"
            time.sleep(0.01)
        took = time.monotonic() - revoked_at
        answer = client.get(path, headers=headers)
        assert (answer.status_code, answer.json()["error"]["code"]) == (401, "revoked_api_key")
    assert took <= 0.3 + 0.25  # key TTL plus one read and scheduling slack


def test_keys_are_stored_hashed(session: Session, keys: KeyAdmin) -> None:
    key, token = keys.create(unique("svc"), ["fraud"], rate_limit_rps=5)
    row = session.execute("SELECT * FROM api_keys WHERE key_id = %s", (key.key_id,)).one()
    assert row.secret_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(tuple(row))
    assert (row.models, row.rate_limit_rps, row.revoked_at) == ({"fraud"}, 5.0, None)


@pytest.fixture
def cli_env(api_keyspace: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCORECAST_KEYSPACE", api_keyspace.keyspace)


def test_api_keys_cli_create_list_revoke(cli_env: None) -> None:
    runner = CliRunner()
    name = unique("cli")
    created = runner.invoke(keys_app, ["create", name, "--rate-limit", "50", "--models", "fraud,risk"])
    assert created.exit_code == 0, created.output
    token = re.search(r"sck_[0-9a-f]{12}_\S+", created.output)
    assert token is not None
    key_id = token.group(0).split("_")[1]

    listed = runner.invoke(keys_app, ["list"])
    line = next(x for x in listed.output.splitlines() if x.startswith(key_id))
    assert name in line
    assert "models=fraud,risk" in line
    assert "rate=50/s" in line
    assert "active" in line
    assert token.group(0) not in listed.output

    revoked = runner.invoke(keys_app, ["revoke", name])
    assert revoked.exit_code == 0
    assert key_id in revoked.output
    line = next(x for x in runner.invoke(keys_app, ["list"]).output.splitlines() if x.startswith(key_id))
    assert "revoked" in line

    again = runner.invoke(keys_app, ["revoke", key_id])
    assert again.exit_code != 0
    assert "no active API key" in str(again.exception)
    bad = runner.invoke(keys_app, ["create", "bad name!"])
    assert bad.exit_code != 0
