"""The ``api_keys`` table (schemas/cql/0003): one row per key, only the token's hash stored.

The lookup API reads a key by id and the set of ids (timestamps as epoch milliseconds: a stored time no
datetime holds must not break the connection, lookup_api/timestamps.py); `scorecast api-keys` creates, lists
and revokes them.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from scorecast.io.cql.tables import placeholders, select_list, table

_KEYS = "api_keys"
_TIMESTAMPS = ("created_at", "revoked_at")


class ApiKeyRow(NamedTuple):
    """An ``api_keys`` row; timestamps are datetimes, or epoch milliseconds where selected so."""

    key_id: str
    secret_hash: str
    name: str
    models: set[str] | None
    rate_limit_rps: float | None
    created_at: datetime | int | None
    revoked_at: datetime | int | None


def select_api_key(keyspace: str | None) -> str:
    """One ``ApiKeyRow``, timestamps in epoch milliseconds (bound: key_id)."""
    return f"SELECT {select_list(ApiKeyRow._fields, _TIMESTAMPS)} FROM {table(keyspace, _KEYS)} WHERE key_id = ?"


def select_api_keys(keyspace: str | None) -> str:
    """Every ``ApiKeyRow``, timestamps as datetimes: a full scan, for the administration commands."""
    return f"SELECT {select_list(ApiKeyRow._fields)} FROM {table(keyspace, _KEYS)}"


def select_api_key_ids(keyspace: str | None) -> str:
    """Every key id: a full scan of the partition keys (the API holds the set to refuse unknown ids)."""
    return f"SELECT key_id FROM {table(keyspace, _KEYS)}"


def insert_api_key(keyspace: str | None) -> str:
    """A new key unless its id exists (bound: an ``ApiKeyRow``'s values but ``revoked_at``)."""
    columns = ApiKeyRow._fields[:-1]
    return (
        f"INSERT INTO {table(keyspace, _KEYS)} ({select_list(columns)}) "
        f"VALUES ({placeholders(len(columns))}) IF NOT EXISTS"
    )


def revoke_api_key(keyspace: str | None) -> str:
    """Mark a key revoked (bound: revoked_at, key_id)."""
    return f"UPDATE {table(keyspace, _KEYS)} SET revoked_at = ? WHERE key_id = ?"
