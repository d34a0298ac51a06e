"""The rollout tables (schemas/cql/0006): ``rollouts`` (one partition per model, newest first) and
``rollout_events``, the append-only log of a rollout's transitions.

The rollout store (scorers/rollouts/store.py) writes and reads them; the lookup API reads a model's newest
rollout to split its traffic. Statuses are ``scorers.rollouts.status.RolloutStatus``, stored as its strings.
"""

from __future__ import annotations

import uuid
from typing import NamedTuple

from scorecast.io.cql.tables import placeholders, select_list, table

_ROLLOUTS = "rollouts"
_EVENTS = "rollout_events"


class RolloutRow(NamedTuple):
    """A whole ``rollouts`` row, timestamps as epoch milliseconds."""

    model: str
    rollout_id: uuid.UUID
    candidate: int
    baseline: int
    strategy: str
    status: str
    stage: int
    stage_started_at: int | None
    fraction: float | None
    salt: str | None
    spec: str
    assignments: dict[str, int] | None
    evidence: str | None
    recommendation: str | None
    reason: str | None
    updated_at: int | None


class RolloutSplitRow(NamedTuple):
    """What the lookup API needs of the newest rollout to split traffic."""

    status: str
    candidate: int
    baseline: int
    fraction: float | None
    salt: str | None


class RolloutEventRow(NamedTuple):
    """A ``rollout_events`` row, ``at`` in epoch milliseconds; ``evidence`` is JSON text."""

    at: int
    action: str
    stage: int
    fraction: float
    reason: str | None
    evidence: str | None


_TIMESTAMPS = ("stage_started_at", "updated_at")
ROLLOUT_COLUMNS = select_list(RolloutRow._fields, _TIMESTAMPS)
# what a writer sets when a rollout changes status or stage (its key and the condition are bound after these)
TRANSITION_COLUMNS = (
    *("status", "stage", "stage_started_at", "fraction", "assignments", "evidence", "recommendation", "reason"),
    "updated_at",
)


def select_latest_rollout(keyspace: str | None, columns: str = ROLLOUT_COLUMNS) -> str:
    """``columns`` of a model's newest rollout (bound: model): rollouts cluster newest first."""
    return f"SELECT {columns} FROM {table(keyspace, _ROLLOUTS)} WHERE model = ? LIMIT 1"


def select_latest_rollout_split(keyspace: str | None) -> str:
    """The newest rollout's ``RolloutSplitRow`` (bound: model)."""
    return select_latest_rollout(keyspace, select_list(RolloutSplitRow._fields))


def insert_rollout(keyspace: str | None) -> str:
    """A new rollout unless its id exists (a lightweight transaction: bind a ``RolloutRow``'s values, timestamps
    in epoch milliseconds)."""
    columns = select_list(RolloutRow._fields)
    return (
        f"INSERT INTO {table(keyspace, _ROLLOUTS)} ({columns}) "
        f"VALUES ({placeholders(len(RolloutRow._fields))}) IF NOT EXISTS"
    )


def transition_rollout(keyspace: str | None) -> str:
    """Set ``TRANSITION_COLUMNS`` if the row still has the status and stage its writer read (bound: those
    values, model, rollout_id, the status and stage read)."""
    assignments = ", ".join(f"{c} = ?" for c in TRANSITION_COLUMNS)
    return (
        f"UPDATE {table(keyspace, _ROLLOUTS)} SET {assignments} WHERE model = ? AND rollout_id = ? "
        "IF status = ? AND stage = ?"
    )


def insert_rollout_event(keyspace: str | None) -> str:
    """One log row (bound: model, rollout_id, at as a timeuuid, action, stage, fraction, reason, evidence)."""
    return (
        f"INSERT INTO {table(keyspace, _EVENTS)} (model, rollout_id, {select_list(RolloutEventRow._fields)}) "
        f"VALUES ({placeholders(len(RolloutEventRow._fields) + 2)})"
    )


def select_rollout_events(keyspace: str | None) -> str:
    """A rollout's ``RolloutEventRow``s, oldest first (bound: model, rollout_id)."""
    columns = select_list(RolloutEventRow._fields, ("at",))
    return f"SELECT {columns} FROM {table(keyspace, _EVENTS)} WHERE model = ? AND rollout_id = ?"
