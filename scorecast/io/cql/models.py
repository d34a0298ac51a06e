"""The model registry's tables (schemas/cql/0002): ``model_versions``, ``model_aliases``, ``alias_history``.

The registry (scorers/registry.py) writes and reads them all; the lookup API reads versions and aliases.
Each function takes the keyspace (None: the session's) and returns one statement; the rows a reader unpacks
are typed here with the columns they are selected by.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import NamedTuple

from scorecast.io.cql.tables import placeholders, select_list, table


class ModelVersionRow(NamedTuple):
    """A whole ``model_versions`` row; the specs, profile and metrics are JSON text."""

    model: str
    version: int
    created_at: datetime
    created_by: str | None
    description: str | None
    sha256: str
    artifact_uri: str
    feature_spec: str
    output_spec: str
    reference_profile: str | None
    metrics: str | None


class VersionSummary(NamedTuple):
    """A version as the lookup API lists it (``created_at`` in epoch milliseconds)."""

    model: str
    version: int
    created_at: int | None
    description: str | None


class AliasRow(NamedTuple):
    alias: str
    version: int


class AliasWrite(NamedTuple):
    """An alias row with its write time (µs): an alias change deletes above every write already there."""

    alias: str
    version: int
    written: int | None


ALIAS_WRITE_COLUMNS = "alias, version, writetime(updated_at) AS written"


class ModelAliasRow(NamedTuple):
    model: str
    alias: str
    version: int


class AliasHistoryRow(NamedTuple):
    changed_at: uuid.UUID  # timeuuid: when, and unique per change
    alias: str
    version: int | None
    previous_version: int | None
    action: str
    reason: str | None
    actor: str | None


_VERSIONS = "model_versions"
_ALIASES = "model_aliases"
_HISTORY = "alias_history"
VERSION_COLUMNS = select_list(ModelVersionRow._fields)


# -- model_versions: one partition per model, newest version first ---------------------------------------------


def select_latest_version(keyspace: str | None) -> str:
    """The newest version number of a model (bound: model); no row for an unknown model."""
    return f"SELECT version FROM {table(keyspace, _VERSIONS)} WHERE model = ? LIMIT 1"


def select_version(keyspace: str | None) -> str:
    """One ``ModelVersionRow`` (bound: model, version)."""
    return f"SELECT {VERSION_COLUMNS} FROM {table(keyspace, _VERSIONS)} WHERE model = ? AND version = ?"


def select_versions(keyspace: str | None, columns: str = VERSION_COLUMNS) -> str:
    """``columns`` of every version of a model, newest first (bound: model)."""
    return f"SELECT {columns} FROM {table(keyspace, _VERSIONS)} WHERE model = ?"


def claim_version(keyspace: str | None) -> str:
    """Insert a ``ModelVersionRow`` unless its number is taken (a lightweight transaction: bind its values)."""
    columns = VERSION_COLUMNS
    return (
        f"INSERT INTO {table(keyspace, _VERSIONS)} ({columns}) "
        f"VALUES ({placeholders(len(ModelVersionRow._fields))}) IF NOT EXISTS"
    )


def select_model_names(keyspace: str | None) -> str:
    """Every registered model: the partition keys."""
    return f"SELECT DISTINCT model FROM {table(keyspace, _VERSIONS)}"


def select_version_summaries(keyspace: str | None) -> str:
    """Every ``VersionSummary`` of every model: a full scan, for listings."""
    columns = select_list(VersionSummary._fields, ("created_at",))
    return f"SELECT {columns} FROM {table(keyspace, _VERSIONS)}"


# -- model_aliases: one partition per model, so an alias change is one atomic batch -----------------------------


def select_aliases(keyspace: str | None, columns: str = select_list(AliasRow._fields)) -> str:
    """``columns`` of every alias row of one model (bound: model): one partition."""
    return f"SELECT {columns} FROM {table(keyspace, _ALIASES)} WHERE model = ?"


def select_all_aliases(keyspace: str | None) -> str:
    """Every ``ModelAliasRow``: a full scan, for listings."""
    return f"SELECT {select_list(ModelAliasRow._fields)} FROM {table(keyspace, _ALIASES)}"


def delete_alias(keyspace: str | None) -> str:
    """Every version row of one alias (bound: write timestamp, model, alias)."""
    return f"DELETE FROM {table(keyspace, _ALIASES)} USING TIMESTAMP ? WHERE model = ? AND alias = ?"


def delete_alias_version(keyspace: str | None) -> str:
    """One (alias, version) row (bound: write timestamp, model, alias, version)."""
    return f"DELETE FROM {table(keyspace, _ALIASES)} USING TIMESTAMP ? WHERE model = ? AND alias = ? AND version = ?"


def insert_alias(keyspace: str | None) -> str:
    """One (alias, version) row (bound: model, alias, version, updated_at, write timestamp)."""
    return (
        f"INSERT INTO {table(keyspace, _ALIASES)} (model, alias, version, updated_at) "
        "VALUES (?, ?, ?, ?) USING TIMESTAMP ?"
    )


# -- alias_history: one partition per model, newest change first -----------------------------------------------


def insert_alias_change(keyspace: str | None) -> str:
    """One history row (bound: model, then an ``AliasHistoryRow``'s values)."""
    columns = select_list(("model", *AliasHistoryRow._fields))
    return (
        f"INSERT INTO {table(keyspace, _HISTORY)} ({columns}) VALUES ({placeholders(len(AliasHistoryRow._fields) + 1)})"
    )


def select_alias_history(keyspace: str | None) -> str:
    """Every ``AliasHistoryRow`` of a model, newest first (bound: model)."""
    return f"SELECT {select_list(AliasHistoryRow._fields)} FROM {table(keyspace, _HISTORY)} WHERE model = ?"
