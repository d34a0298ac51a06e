"""API keys: token format and hashing; 401, 403 and 429 kept apart; key records cached, not read per request."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime

import pytest
from starlette.datastructures import Headers

from lookup_api.auth import Authenticator
from lookup_api.cassandra_async import Row
from lookup_api.errors import ApiError
from lookup_api.keys import ApiKey, hash_token, key_from_row, key_id_of, new_token
from lookup_api.ratelimit import RateLimiter

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_tokens_are_random_and_only_their_hash_identifies_them() -> None:
    key_id, token = new_token()
    other_id, other = new_token()
    assert token != other
    assert key_id != other_id
    assert key_id_of(token) == key_id
    assert hash_token(token) == hashlib.sha256(token.encode()).hexdigest()
    assert len(token) == len("sck_") + 12 + 1 + 43


@pytest.mark.parametrize("bad", ["", "sck_", "Bearer x", "sck_0123456789ab_short", "sck_XYZ456789abc_" + "a" * 43])
def test_malformed_tokens_have_no_key_id(bad: str) -> None:
    assert key_id_of(bad) is None


def test_a_key_never_shows_its_hash_in_repr() -> None:
    key = ApiKey("0123456789ab", "svc", "deadbeef" * 8, frozenset(), 1.0, NOW)
    assert "deadbeef" not in repr(key)


class Keys:
    """Rows of the api_keys table, as the fake Cassandra read returns them."""

    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}
        self.reads = 0

    def add(self, name: str, models: set[str] | None = None, rate: float = 0.0, revoked: bool = False) -> str:
        key_id, token = new_token()
        self.rows[key_id] = (key_id, hash_token(token), name, models, rate, NOW, NOW if revoked else None)
        return token

    async def read(self, key_id: str) -> list[Row]:
        self.reads += 1
        return [self.rows[key_id]] if key_id in self.rows else []


def _authenticate(auth: Authenticator, headers: dict[str, str]) -> ApiKey:
    return asyncio.run(auth.authenticate(Headers(headers)))


def _refused(auth: Authenticator, headers: dict[str, str]) -> ApiError:
    with pytest.raises(ApiError) as caught:
        _authenticate(auth, headers)
    return caught.value


def test_both_header_styles_authenticate() -> None:
    keys = Keys()
    token = keys.add("svc")
    auth = Authenticator(keys.read, ttl_s=60, limiter=RateLimiter())
    assert _authenticate(auth, {"Authorization": f"Bearer {token}"}).name == "svc"
    assert _authenticate(auth, {"authorization": f"bearer {token}"}).name == "svc"
    assert _authenticate(auth, {"X-API-Key": token}).name == "svc"
    assert keys.reads == 1  # the record is cached


def test_missing_malformed_unknown_wrong_and_revoked_keys_are_401_with_distinct_codes() -> None:
    keys = Keys()
    good = keys.add("svc")
    revoked = keys.add("old", revoked=True)
    auth = Authenticator(keys.read, ttl_s=60, limiter=RateLimiter())
    key_id = key_id_of(good)
    assert key_id is not None
    forged = f"sck_{key_id}_{'A' * 43}"  # right id, wrong secret
    cases = {
        "missing_api_key": {},
        "invalid_api_key": {"Authorization": "Basic abc"},
    }
    for code, headers in cases.items():
        error = _refused(auth, headers)
        assert (error.status, error.code) == (401, code)
        assert error.headers["WWW-Authenticate"].startswith("Bearer")
    for token, code in [("nonsense", "invalid_api_key"), (forged, "invalid_api_key"), (revoked, "revoked_api_key")]:
        error = _refused(auth, {"X-API-Key": token})
        assert (error.status, error.code) == (401, code)
    _new_id, unknown = new_token()
    assert _refused(auth, {"X-API-Key": unknown}).code == "invalid_api_key"
    assert _refused(auth, {"X-API-Key": unknown}).code == "invalid_api_key"
    assert keys.reads == 3  # good (via forged), revoked, unknown once: unknown ids are cached as well


def test_authorize_is_403_only_for_models_outside_the_key() -> None:
    limited = ApiKey("0123456789ab", "svc", "h", frozenset({"fraud"}), 0.0, NOW)
    everything = ApiKey("0123456789ac", "all", "h", frozenset(), 0.0, NOW)
    Authenticator.authorize(limited, "fraud")
    Authenticator.authorize(everything, "risk")
    Authenticator.authorize(None, "risk")  # auth disabled
    with pytest.raises(ApiError) as caught:
        Authenticator.authorize(limited, "risk")
    assert (caught.value.status, caught.value.code) == (403, "model_not_allowed")


def test_rate_limit_is_429_with_retry_after_and_reported() -> None:
    keys = Keys()
    token = keys.add("svc", rate=2.0)
    limited: list[str] = []
    auth = Authenticator(
        keys.read, 60, RateLimiter(clock=lambda: 0.0), on_rate_limited=lambda k: limited.append(k.name)
    )
    _authenticate(auth, {"X-API-Key": token})
    _authenticate(auth, {"X-API-Key": token})
    error = _refused(auth, {"X-API-Key": token})
    assert (error.status, error.code, error.headers["Retry-After"]) == (429, "rate_limited", "1")
    assert limited == ["svc"]


def test_key_rows_map_nulls_to_defaults() -> None:
    key = key_from_row(("0123456789ab", "h", "svc", None, None, NOW, None))
    assert key.models == frozenset()
    assert key.rate_limit_rps == 0.0
    assert key.allows("anything")
