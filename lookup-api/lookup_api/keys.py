"""API keys: the token format, how it is hashed, and the ``api_keys`` table (create, list, revoke, read).

A token is ``sck_<key_id>_<secret>``: ``key_id`` (48 random bits, hex) finds the row with one partition
read, and ``secret`` (256 random bits) makes the token unguessable. Only ``sha256(token)`` is stored.
SHA-256 rather than bcrypt/argon2 because the token is high-entropy random data: a slow hash protects
low-entropy passwords against guessing, which is not possible here, and it would cost milliseconds on
every uncached request. The token is printed once, at creation, and never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from cassandra.cluster import Session

from lookup_api.timestamps import clamped
from scorecast.errors import ScorecastError
from scorecast.io.cql import api_keys as cql
from scorecast.io.cql.api_keys import ApiKeyRow

_TOKEN = re.compile(r"sck_([0-9a-f]{12})_[A-Za-z0-9_-]{43}")
_KEY_ID = re.compile(r"[0-9a-f]{12}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
_MODEL = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")


class ApiKeyError(ScorecastError):
    """A key cannot be created or revoked as asked."""


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    secret_hash: str = field(repr=False)
    models: frozenset[str]
    rate_limit_rps: float
    created_at: datetime
    revoked_at: datetime | None = None

    def allows(self, model: str) -> bool:
        return not self.models or model in self.models

    def matches(self, token: str) -> bool:
        # constant-time comparison: the hash of a guess must not leak through timing
        return hmac.compare_digest(self.secret_hash, hash_token(token))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def key_id_of(token: str) -> str | None:
    """The key id of a well-formed token, else None."""
    match = _TOKEN.fullmatch(token)
    return match.group(1) if match else None


def new_token() -> tuple[str, str]:
    """A fresh ``(key_id, token)``."""
    key_id = secrets.token_hex(6)
    return key_id, f"sck_{key_id}_{secrets.token_urlsafe(32)}"


def key_from_row(row: tuple[Any, ...]) -> ApiKey:
    """An ``ApiKeyRow`` as selected, timestamps as datetimes (the CLI) or epoch milliseconds (the API)."""
    r = ApiKeyRow._make(row)
    return ApiKey(
        key_id=str(r.key_id),
        name=str(r.name),
        secret_hash=str(r.secret_hash),
        models=frozenset(r.models or ()),
        rate_limit_rps=float(r.rate_limit_rps or 0.0),
        created_at=_moment(r.created_at) or datetime.min,
        revoked_at=_moment(r.revoked_at),
    )


def _moment(value: datetime | int | None) -> datetime | None:
    """A timestamp column as the CLI's session (datetime) or the API's statement (epoch ms) gives it."""
    return clamped(value) if isinstance(value, int) else value


class KeyAdmin:
    """Synchronous management of keys, for the CLI (the API itself only reads, see ``Authenticator``)."""

    def __init__(self, session: Session) -> None:
        self._session = session
        p, ks = session.prepare, session.keyspace
        self._insert = p(cql.insert_api_key(ks))
        self._select_all = p(cql.select_api_keys(ks))
        self._revoke = p(cql.revoke_api_key(ks))

    def create(self, name: str, models: Iterable[str] = (), rate_limit_rps: float = 100.0) -> tuple[ApiKey, str]:
        """Store a new key; returns it with its token, which exists nowhere else afterwards."""
        if not _NAME.fullmatch(name):
            raise ApiKeyError(f"key name {name!r} must be 1-64 letters, digits, '_', '.', '@', '-'")
        allowed = frozenset(models)
        bad = sorted(m for m in allowed if not _MODEL.fullmatch(m))
        if bad:
            raise ApiKeyError(f"invalid model name(s): {', '.join(bad)}")
        if rate_limit_rps < 0:
            raise ApiKeyError("rate limit must be >= 0 (0 means unlimited)")
        key_id, token = new_token()
        now = datetime.now(UTC).replace(microsecond=0)
        key = ApiKey(key_id, name, hash_token(token), allowed, float(rate_limit_rps), now)
        result = self._session.execute(
            self._insert, (key.key_id, key.secret_hash, key.name, set(key.models), key.rate_limit_rps, key.created_at)
        )
        if not result.was_applied:  # a 48-bit id collision: astronomically rare, but never overwrite a key
            raise ApiKeyError("key id collision; run the command again")
        return key, token

    def keys(self) -> list[ApiKey]:
        rows = self._session.execute(self._select_all)
        return sorted((key_from_row(tuple(row)) for row in rows), key=lambda k: (k.created_at, k.key_id))

    def revoke(self, id_or_name: str) -> list[ApiKey]:
        """Revoke the key with this id, or every key with this name; returns the keys revoked now."""
        targets = [k for k in self.keys() if id_or_name in (k.key_id, k.name) and k.revoked_at is None]
        if not targets:
            what = "key id" if _KEY_ID.fullmatch(id_or_name) else "key id or name"
            raise ApiKeyError(f"no active API key with {what} {id_or_name!r}")
        now = datetime.now(UTC).replace(microsecond=0)
        for key in targets:
            self._session.execute(self._revoke, (now, key.key_id))
        return [replace(k, revoked_at=now) for k in targets]
