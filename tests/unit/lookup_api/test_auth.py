"""API keys: token format and hashing; 401, 403 and 429 kept apart; key records cached, not read per request."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.datastructures import Headers

from lookup_api.auth import Authenticator
from lookup_api.connection import Row
from lookup_api.errors import ApiError
from lookup_api.key_ids import KeyIds
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
        self.id_reads = 0

    def add(self, name: str, models: set[str] | None = None, rate: float = 0.0, revoked: bool = False) -> str:
        key_id, token = new_token()
        self.rows[key_id] = (key_id, hash_token(token), name, models, rate, NOW, NOW if revoked else None)
        return token

    async def read(self, key_id: str) -> list[Row]:
        self.reads += 1
        return [self.rows[key_id]] if key_id in self.rows else []

    async def read_ids(self) -> list[Row]:
        self.id_reads += 1
        return [(key_id,) for key_id in self.rows]

    def authenticator(self, ttl_s: float = 60, limiter: RateLimiter | None = None, **options: Any) -> Authenticator:
        return Authenticator(self.read, self.read_ids, ttl_s, limiter or RateLimiter(), **options)


def _authenticate(auth: Authenticator, headers: dict[str, str]) -> ApiKey:
    return asyncio.run(auth.authenticate(Headers(headers)))


def _refused(auth: Authenticator, headers: dict[str, str]) -> ApiError:
    with pytest.raises(ApiError) as caught:
        _authenticate(auth, headers)
    return caught.value


def test_both_header_styles_authenticate() -> None:
    keys = Keys()
    token = keys.add("svc")
    auth = keys.authenticator()
    assert _authenticate(auth, {"Authorization": f"Bearer {token}"}).name == "svc"
    assert _authenticate(auth, {"authorization": f"bearer {token}"}).name == "svc"
    assert _authenticate(auth, {"X-API-Key": token}).name == "svc"
    assert keys.reads == 1  # the record is cached


def test_missing_malformed_unknown_wrong_and_revoked_keys_are_401_with_distinct_codes() -> None:
    keys = Keys()
    good = keys.add("svc")
    revoked = keys.add("old", revoked=True)
    auth = keys.authenticator()
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
    assert keys.reads == 2  # good (via forged) and revoked; the unknown id is refused without a read of its own
    assert keys.id_reads == 1


def test_unknown_key_ids_cost_one_read_of_the_id_set_not_one_read_each() -> None:
    keys = Keys()
    token = keys.add("svc")
    auth = keys.authenticator()
    for _ in range(1000):
        assert _refused(auth, {"X-API-Key": new_token()[1]}).code == "invalid_api_key"
    assert (keys.reads, keys.id_reads) == (0, 1)
    assert len(auth.cache) == 0  # unknown ids never take a place in the key cache
    assert _authenticate(auth, {"X-API-Key": token}).name == "svc"
    assert (keys.reads, keys.id_reads) == (1, 1)


def test_the_id_set_is_read_again_only_once_expired() -> None:
    keys = Keys()
    now = [0.0]
    ids = KeyIds(keys.read_ids, ttl_s=1.0, timer=lambda: now[0])
    assert not asyncio.run(ids.exists("0123456789ab"))
    fresh = key_id_of(keys.add("new"))  # created after the set was read: unknown until it expires
    assert fresh is not None
    now[0] = 0.99
    assert not asyncio.run(ids.exists(fresh))
    assert keys.id_reads == 1  # no refresh ahead: a flood of unknown ids costs one read per TTL
    now[0] = 1.0
    assert asyncio.run(ids.exists(fresh))
    assert keys.id_reads == 2


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
    auth = keys.authenticator(limiter=RateLimiter(clock=lambda: 0.0), on_rate_limited=lambda k: limited.append(k.name))
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
