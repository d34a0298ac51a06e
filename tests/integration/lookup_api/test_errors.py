"""Client mistakes are 4xx with a JSON error body, never a 5xx or a stack trace."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from scorecast.settings import Settings
from tests.integration.lookup_api.conftest import Rows, serve, unique


@pytest.fixture(scope="module")
def model(rows: Rows) -> str:
    name = unique("risk")
    rows.model(name, [1, 2], {"champion": [1], "challenger": [1, 2]})
    rows.prediction(name, 1, "known", 0.5)
    return name


@pytest.fixture(scope="module")
def client(api_keyspace: Settings) -> Iterator[TestClient]:
    with serve(api_keyspace, auth_enabled=False, batch_max=5, max_body_bytes=2048) as client:
        yield client


def _error(response: object, status: int, code: str) -> None:
    from httpx import Response

    assert isinstance(response, Response)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/v1/predictions/{m}/" + "x" * 129, 400, "invalid_entity_id"),
        ("/v1/predictions/{m}/bad%20id", 400, "invalid_entity_id"),
        ("/v1/predictions/{m}/caf%C3%A9", 400, "invalid_entity_id"),
        ("/v1/predictions/{m}/known%2Fx", 404, "not_found"),  # a '/' in an id can only be another route
        ("/v1/predictions/9lives/known", 400, "invalid_model"),
        ("/v1/predictions/{m}/known?version=abc", 400, "invalid_parameter"),
        ("/v1/predictions/{m}/known?version=0", 400, "invalid_parameter"),
        ("/v1/predictions/{m}/known?version=1&alias=champion", 400, "invalid_parameter"),
        ("/v1/predictions/{m}/known?verison=1", 400, "invalid_parameter"),
        ("/v1/predictions/{m}/known?alias=%24%24", 400, "invalid_parameter"),
        ("/v1/predictions/nosuchmodel/known", 404, "unknown_model"),
        ("/v1/predictions/{m}/known?alias=canary", 404, "unknown_alias"),
        ("/v1/predictions/{m}/known?version=7", 404, "unknown_version"),
        ("/v1/predictions/{m}/nobody", 404, "prediction_not_found"),
        ("/v1/predictions/{m}/known?alias=challenger", 409, "ambiguous_alias"),
        ("/v1/models?x=1", 400, "invalid_parameter"),
        ("/no/such/route", 404, "not_found"),
        ("/v1/predictions/{m}", 404, "not_found"),
    ],
)
def test_bad_gets(client: TestClient, model: str, path: str, status: int, code: str) -> None:
    _error(client.get(path.replace("{m}", model)), status, code)


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b"{not json", 400, "invalid_json"),
        (b'["a"]', 400, "invalid_body"),
        (b'{"entity_ids": []}', 400, "invalid_body"),
        (b'{"entity_ids": ["a", 1]}', 400, "invalid_entity_id"),
        (b'{"entity_ids": ["a/b"]}', 400, "invalid_entity_id"),
        (b'{"entity_ids": ["a"], "limit": 3}', 400, "invalid_body"),
        (b'{"entity_ids": ["a"], "version": "two"}', 400, "invalid_parameter"),
        (b'{"entity_ids": ["a","b","c","d","e","f"]}', 413, "batch_too_large"),
        (b'{"entity_ids": ["' + b"a" * 3000 + b'"]}', 413, "body_too_large"),
        (b'{"entity_ids": ["a"], "version": 9}', 404, "unknown_version"),
    ],
)
def test_bad_batches(client: TestClient, model: str, content: bytes, status: int, code: str) -> None:
    response = client.post(
        f"/v1/predictions/{model}:batch", content=content, headers={"content-type": "application/json"}
    )
    _error(response, status, code)


def test_a_body_that_is_not_json_by_its_type_is_415(client: TestClient, model: str) -> None:
    response = client.post(
        f"/v1/predictions/{model}:batch", content=b'{"entity_ids": ["a"]}', headers={"content-type": "text/plain"}
    )
    _error(response, 415, "unsupported_media_type")


def test_wrong_method_is_a_json_405(client: TestClient, model: str) -> None:
    response = client.get(f"/v1/predictions/{model}:batch")
    _error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"
    _error(client.delete(f"/v1/predictions/{model}/known"), 405, "method_not_allowed")


def test_a_chunked_body_over_the_limit_is_refused_without_reading_it_all(client: TestClient, model: str) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"entity_ids": ["'
        for _ in range(100):
            yield b"a" * 1000

    response = client.post(
        f"/v1/predictions/{model}:batch", content=chunks(), headers={"content-type": "application/json"}
    )
    _error(response, 413, "body_too_large")
