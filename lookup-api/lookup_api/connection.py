"""What a Cassandra client must give the lookup API: the statements it prepares and a ``Connection`` to run them.

The API names a statement (``LATEST``, ``API_KEY`` ...) and gets plain tuples back; which client runs it is
chosen in ``store``. Timestamps are read as epoch milliseconds (see ``timestamps``): no stored value can
fail a decode, whatever the client.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Any, NamedTuple, Protocol

from lookup_api.keys import KEY_COLUMNS_MS
from lookup_api.timestamps import column as ms
from scorecast.io.cql import select_aliases, select_latest_prediction, select_latest_rollout

Row = tuple[Any, ...]

LATEST = "latest"
ALIASES = "aliases"
VERSIONS = "versions"
ROLLOUT = "rollout"
ALL_VERSIONS = "all_versions"
ALL_ALIASES = "all_aliases"
API_KEY = "api_key"
API_KEY_IDS = "api_key_ids"
PING = "ping"


class RolloutRow(NamedTuple):
    """The newest rollout of a model as ``ROLLOUT`` selects it: what the lookup API needs to split traffic."""

    status: str
    candidate: int
    baseline: int
    fraction: float | None
    salt: str | None


def statements(keyspace: str) -> dict[str, str]:
    """Every statement the API runs, by name, tables qualified with ``keyspace``: Cassandra 5 warns on every
    prepare that leans on a session keyspace. Each reads one partition except the registry listings and the
    key-id set."""
    ks = keyspace
    return {
        LATEST: select_latest_prediction(
            ks, f"event_id, {ms('event_time')}, score, outputs, {ms('scored_at')}, trace_id"
        ),
        ALIASES: select_aliases(ks, "alias, version"),
        VERSIONS: f"SELECT version FROM {ks}.model_versions WHERE model = ?",
        ROLLOUT: select_latest_rollout(ks, ", ".join(RolloutRow._fields)),
        ALL_VERSIONS: f"SELECT model, version, {ms('created_at')}, description FROM {ks}.model_versions",
        ALL_ALIASES: f"SELECT model, alias, version FROM {ks}.model_aliases",
        API_KEY: f"SELECT {KEY_COLUMNS_MS} FROM {ks}.api_keys WHERE key_id = ?",
        API_KEY_IDS: f"SELECT key_id FROM {ks}.api_keys",
        PING: "SELECT release_version FROM system.local",
    }


class Connection(Protocol):
    """An open session with every statement of ``statements`` prepared."""

    def query(self, name: str, params: Sequence[object]) -> Awaitable[list[Row]]:
        """All rows of statement ``name`` (every page) as tuples; fails with ``errors.Unavailable`` when
        Cassandra cannot answer now, and with the client's own error otherwise (a bug)."""
        ...

    async def close(self) -> None: ...
