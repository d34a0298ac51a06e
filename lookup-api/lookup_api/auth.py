"""Who is calling and what they may do: API key from the headers, cached key records, 401/403/429.

``Authorization: Bearer <token>`` or ``X-API-Key: <token>``. A key record is cached for ``key_ttl_ms``, so
authentication costs one hash and a dict lookup, not a Cassandra read per request; a revoke therefore takes
effect within ``key_ttl_ms`` plus one read. An id that is not in the set of existing ids (``key_ids``) is
refused without reading its record. 401 means "who are you?" (missing,
malformed, unknown or revoked key); 403 means "known, but not for this model"; 429 means "too fast".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Protocol

from lookup_api.connection import Row
from lookup_api.errors import forbidden, rate_limited, unauthorized
from lookup_api.key_ids import KeyIds
from lookup_api.keys import ApiKey, key_from_row, key_id_of
from lookup_api.ratelimit import RateLimiter, retry_after_header
from lookup_api.ttl_cache import MISSING, AsyncTTLCache


class HeaderSource(Protocol):
    """The request headers as authentication reads them (Starlette's Headers, a dict, granian's RSGI headers)."""

    def get(self, key: str, /) -> str | None: ...


def token_from(headers: HeaderSource) -> str | None:
    authorization = headers.get("authorization")
    if authorization is not None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized("invalid_api_key", "Authorization must be 'Bearer <api key>'")
        return token.strip()
    return headers.get("x-api-key")


class Authenticator:
    def __init__(
        self,
        read_key: Callable[[str], Awaitable[list[Row]]],
        read_key_ids: Callable[[], Awaitable[list[Row]]],
        ttl_s: float,
        limiter: RateLimiter,
        on_rate_limited: Callable[[ApiKey], None] = lambda key: None,
        maxsize: int = 10_000,
    ) -> None:
        self._read_key = read_key
        self.key_ids = KeyIds(read_key_ids, ttl_s)
        self._limiter = limiter
        self._on_rate_limited = on_rate_limited
        self.cache: AsyncTTLCache[str, ApiKey | None] = AsyncTTLCache(maxsize=maxsize, ttl_s=ttl_s)

    async def authenticate(self, headers: HeaderSource) -> ApiKey:
        """The caller's key, after the rate limit; raises 401 or 429."""
        token = token_from(headers)
        if not token:
            raise unauthorized("missing_api_key", "send an API key: 'Authorization: Bearer <key>' or 'X-API-Key'")
        key_id = key_id_of(token)
        key = None
        if key_id is not None:
            load = partial(self._load, key_id)
            cached = self.cache.peek(key_id, load)
            if cached is not MISSING:
                key = cached
            elif await self.key_ids.exists(key_id):  # an unknown id is refused without a read of its own
                key = await self.cache.wait(key_id, load)
        if key is None or not key.matches(token):
            raise unauthorized("invalid_api_key", "unknown API key")
        if key.revoked_at is not None:
            raise unauthorized("revoked_api_key", "this API key was revoked")
        wait = self._limiter.check(key.key_id, key.rate_limit_rps)
        if wait > 0:
            self._on_rate_limited(key)
            raise rate_limited(retry_after_header(wait))
        return key

    @staticmethod
    def authorize(key: ApiKey | None, model: str) -> None:
        """403 unless the key may read ``model`` (``None``: auth is off, everything is allowed)."""
        if key is not None and not key.allows(model):
            raise forbidden(f"this API key may not read model {model!r}")

    async def _load(self, key_id: str) -> ApiKey | None:
        rows = await self._read_key(key_id)
        return key_from_row(rows[0]) if rows else None
