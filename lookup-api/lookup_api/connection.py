"""What a Cassandra client must give the lookup API: the statements it prepares and a ``Connection`` to run them.

The API names a statement (``LATEST``, ``API_KEY`` ...) and gets plain tuples back, read through the
statement's typed row (named beside each name below); which client runs it is chosen in ``store``. Timestamps
are read as epoch milliseconds (see ``timestamps``): no stored value can fail a decode, whatever the client.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Any, Protocol

from scorecast.io.cql import api_keys, models, predictions, rollouts
from scorecast.io.cql.system import SELECT_RELEASE_VERSION

Row = tuple[Any, ...]

LATEST = "latest"  # predictions.ServedPrediction
ALIASES = "aliases"  # models.AliasRow
VERSIONS = "versions"  # (version,)
ROLLOUT = "rollout"  # rollouts.RolloutSplitRow
ALL_VERSIONS = "all_versions"  # models.VersionSummary
ALL_ALIASES = "all_aliases"  # models.ModelAliasRow
API_KEY = "api_key"  # api_keys.ApiKeyRow
API_KEY_IDS = "api_key_ids"  # (key_id,)
PING = "ping"


def statements(keyspace: str) -> dict[str, str]:
    """Every statement the API runs, by name, built in scorecast.io.cql (tables qualified with ``keyspace``;
    timestamps read as epoch milliseconds). Each reads one partition except the registry listings and the
    key-id set."""
    ks = keyspace
    return {
        LATEST: predictions.select_latest_prediction(ks, predictions.SERVED_PREDICTION_COLUMNS),
        ALIASES: models.select_aliases(ks),
        VERSIONS: models.select_versions(ks, "version"),
        ROLLOUT: rollouts.select_latest_rollout_split(ks),
        ALL_VERSIONS: models.select_version_summaries(ks),
        ALL_ALIASES: models.select_all_aliases(ks),
        API_KEY: api_keys.select_api_key(ks),
        API_KEY_IDS: api_keys.select_api_key_ids(ks),
        PING: SELECT_RELEASE_VERSION,
    }


class Connection(Protocol):
    """An open session with every statement of ``statements`` prepared."""

    def query(self, name: str, params: Sequence[object]) -> Awaitable[list[Row]]:
        """All rows of statement ``name`` (every page) as tuples; fails with ``errors.Unavailable`` when
        Cassandra cannot answer now, and with the client's own error otherwise (a bug)."""
        ...

    async def close(self) -> None: ...
