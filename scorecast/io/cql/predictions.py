"""The ``predictions`` table (schemas/cql/0001, 0008): one row per (model, version, entity, event).

The scorer's sink writes it, the shadow joiner reads one event's rows, the lookup API an entity's newest row,
the demo lists partitions.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from scorecast.io.cql.tables import placeholders, select_list

_COLUMNS = "model, version, entity_id, event_time, event_id, score, scored_at, variant"
# The partition (one entity's predictions by one model version), newest event first (clustering order).
_PARTITION = "model = ? AND version = ? AND entity_id = ?"


class ServedPrediction(NamedTuple):
    """An entity's newest prediction as the lookup API serves it, timestamps as epoch milliseconds."""

    event_id: str
    event_time: int | None
    score: float
    outputs: Any  # map<text, double>: a driver mapping, or None
    scored_at: int | None
    trace_id: str | None


SERVED_PREDICTION_COLUMNS = select_list(ServedPrediction._fields, ("event_time", "scored_at"))


class EventPrediction(NamedTuple):
    """One version's prediction of an event as the shadow joiner reads the champion's, ``scored_at`` in epoch
    milliseconds."""

    version: int
    score: float
    scored_at: int
    variant: str | None


EVENT_PREDICTION_COLUMNS = select_list(EventPrediction._fields, ("scored_at",))


def insert_prediction(keyspace: str, *, traced: bool = False) -> str:
    """The idempotent upsert of one prediction row; ``traced`` adds the event's ``trace_id`` as last value."""
    columns = f"{_COLUMNS}, trace_id" if traced else _COLUMNS
    return f"INSERT INTO {keyspace}.predictions ({columns}) VALUES ({placeholders(len(columns.split(', ')))})"


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
