"""CQL read or written by more than one package (schemas/cql), built in one place.

The scorer's sink, the shadow joiner, the lookup API and the demo all address one row or one partition of
``predictions``; the registry and the lookup API both read a model's aliases, the rollout store and the lookup
API its newest rollout. Each statement is built here so a change of key or column is made once. Tables are
qualified with the keyspace (Cassandra 5 warns on every prepare that leans on a session keyspace); the
registry's and rollout store's reads pass their session's keyspace, None on a session without one.
"""

from __future__ import annotations

_COLUMNS = "model, version, entity_id, event_time, event_id, score, scored_at, variant"
# The partition (one entity's predictions by one model version), newest event first (clustering order).
_PARTITION = "model = ? AND version = ? AND entity_id = ?"


def insert_prediction(keyspace: str, *, traced: bool = False) -> str:
    """The idempotent upsert of one prediction row; ``traced`` adds the event's ``trace_id`` as last value."""
    columns = f"{_COLUMNS}, trace_id" if traced else _COLUMNS
    placeholders = ", ".join("?" * len(columns.split(", ")))
    return f"INSERT INTO {keyspace}.predictions ({columns}) VALUES ({placeholders})"


def select_latest_prediction(keyspace: str, columns: str) -> str:
    """``columns`` of an entity's newest prediction by one version (bound: model, version, entity_id)."""
    return f"SELECT {columns} FROM {keyspace}.predictions WHERE {_PARTITION} LIMIT 1"


def select_event_predictions(keyspace: str, columns: str) -> str:
    """``columns`` of one event's predictions by some versions (bound: model, a list of versions, entity_id,
    event_time, event_id)."""
    return (
        f"SELECT {columns} FROM {keyspace}.predictions "
        "WHERE model = ? AND version IN ? AND entity_id = ? AND event_time = ? AND event_id = ?"
    )


def select_prediction_partitions(keyspace: str) -> str:
    """Every (model, version, entity_id) that holds predictions: a full scan, for demos and small tables."""
    return f"SELECT DISTINCT model, version, entity_id FROM {keyspace}.predictions"


def _table(keyspace: str | None, name: str) -> str:
    return f"{keyspace}.{name}" if keyspace else name


def select_aliases(keyspace: str | None, columns: str) -> str:
    """``columns`` of every alias row of one model (bound: model): one partition."""
    return f"SELECT {columns} FROM {_table(keyspace, 'model_aliases')} WHERE model = ?"


def select_latest_rollout(keyspace: str | None, columns: str) -> str:
    """``columns`` of a model's newest rollout (bound: model): rollouts cluster newest first."""
    return f"SELECT {columns} FROM {_table(keyspace, 'rollouts')} WHERE model = ? LIMIT 1"
