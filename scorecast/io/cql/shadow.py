"""The joined shadow results (schemas/cql/0005): ``shadow_results``, one partition per (model, challenger
version, hour of event time), and ``shadow_buckets``, the partitions that exist.

The shadow joiner writes them (shadow/results.py); the shadow report and the rollout controller read them.
Timestamps travel as epoch milliseconds both ways.
"""

from __future__ import annotations

from typing import NamedTuple

from scorecast.io.cql.tables import placeholders, select_list, table

_RESULTS = "shadow_results"
_BUCKETS = "shadow_buckets"
# what a joined row's writer binds, in this order
RESULT_COLUMNS = (
    *("model", "challenger_version", "bucket", "event_time", "event_id", "entity_id", "champion_version"),
    *("champion_score", "champion_scored_at", "challenger_score", "challenger_scored_at", "produced_at", "joined_at"),
)


class JoinedResultRow(NamedTuple):
    """A joined row as a reader selects it (its partition bound), timestamps in epoch milliseconds."""

    event_id: str
    entity_id: str
    event_time: int
    champion_version: int
    champion_score: float
    challenger_score: float
    champion_scored_at: int
    challenger_scored_at: int
    produced_at: int | None


class BucketRow(NamedTuple):
    challenger_version: int
    bucket: int  # the hour's start, epoch milliseconds


_RESULT_TIMESTAMPS = ("event_time", "champion_scored_at", "challenger_scored_at", "produced_at")


def insert_shadow_result(keyspace: str) -> str:
    """One joined row (bound: ``RESULT_COLUMNS``)."""
    return (
        f"INSERT INTO {table(keyspace, _RESULTS)} ({select_list(RESULT_COLUMNS)}) "
        f"VALUES ({placeholders(len(RESULT_COLUMNS))})"
    )


def insert_shadow_bucket(keyspace: str) -> str:
    """A (challenger version, hour) partition exists (bound: model, challenger_version, bucket)."""
    return f"INSERT INTO {table(keyspace, _BUCKETS)} (model, challenger_version, bucket) VALUES (?, ?, ?)"


def select_shadow_buckets(keyspace: str) -> str:
    """Every ``BucketRow`` of a model (bound: model)."""
    return f"SELECT {select_list(BucketRow._fields, ('bucket',))} FROM {table(keyspace, _BUCKETS)} WHERE model = ?"


def select_shadow_results(keyspace: str) -> str:
    """The ``JoinedResultRow``s of one partition in an event-time range (bound: model, challenger_version,
    bucket, from (included), to (excluded))."""
    return (
        f"SELECT {select_list(JoinedResultRow._fields, _RESULT_TIMESTAMPS)} FROM {table(keyspace, _RESULTS)} "
        "WHERE model = ? AND challenger_version = ? AND bucket = ? AND event_time >= ? AND event_time < ?"
    )
