"""Rollout state in Cassandra (schemas/cql/0006): the newest rollout of a model, its transitions, its evidence.

Every change of status or stage is a lightweight transaction conditioned on the status and stage the writer
last read, so a controller that advances a stage and an operator who pauses at the same moment cannot both
win; the loser re-reads. A restarted controller simply reads the newest row and carries on from it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from cassandra import ConsistencyLevel
from cassandra.cluster import Session
from cassandra.util import uuid_from_time

from scorecast.io.cql import rollouts as cql
from scorecast.io.cql.rollouts import RolloutEventRow, RolloutRow
from scorers.rollouts.spec import RolloutSpec
from scorers.rollouts.status import RolloutStatus, is_active


@dataclass(frozen=True)
class Rollout:
    model: str
    rollout_id: uuid.UUID
    candidate: int
    baseline: int
    status: RolloutStatus
    stage: int
    stage_started_ms: int
    spec: RolloutSpec
    salt: str = ""
    assignments: dict[str, int] = field(default_factory=dict)
    evidence: dict[str, Any] = field(default_factory=dict)
    recommendation: str = ""
    reason: str = ""
    updated_ms: int = 0

    @property
    def active(self) -> bool:
        return is_active(self.status)

    @property
    def fraction(self) -> float:
        return self.spec.stages[self.stage] / 100.0

    @property
    def last_stage(self) -> bool:
        return self.stage == len(self.spec.stages) - 1

    @classmethod
    def from_row(cls, row: RolloutRow) -> Rollout:
        return cls(
            row.model,
            row.rollout_id,
            row.candidate,
            row.baseline,
            RolloutStatus(row.status),
            row.stage,
            int(row.stage_started_at or 0),
            RolloutSpec.from_json(json.loads(row.spec)),
            row.salt or "",
            dict(row.assignments or {}),
            json.loads(row.evidence) if row.evidence else {},
            row.recommendation or "",
            row.reason or "",
            int(row.updated_at or 0),
        )


@dataclass(frozen=True)
class RolloutEvent:
    at_ms: int
    action: str
    stage: int
    fraction: float
    reason: str
    evidence: dict[str, Any]


class RolloutStore:
    def __init__(self, session: Session) -> None:
        self.session = session
        p, ks = session.prepare, session.keyspace
        self._latest = p(cql.select_latest_rollout(ks))
        self._insert = p(cql.insert_rollout(ks))
        self._transition = p(cql.transition_rollout(ks))
        for statement in (self._insert, self._transition):
            statement.serial_consistency_level = ConsistencyLevel.LOCAL_SERIAL
        self._event = p(cql.insert_rollout_event(ks))
        self._events = p(cql.select_rollout_events(ks))

    def latest(self, model: str) -> Rollout | None:
        row = self.session.execute(self._latest, (model,)).one()
        return Rollout.from_row(RolloutRow._make(row)) if row is not None else None

    def create(self, rollout: Rollout, now_ms: int) -> Rollout:
        r = rollout
        row = RolloutRow(
            r.model, r.rollout_id, r.candidate, r.baseline, r.spec.strategy, r.status, r.stage, r.stage_started_ms,
            r.fraction, r.salt, json.dumps(r.spec.to_json()), r.assignments, json.dumps(r.evidence),
            r.recommendation, r.reason, now_ms,
        )  # fmt: skip
        self.session.execute(self._insert, row)
        self.record(r, "start", r.reason, now_ms)
        return replace(r, updated_ms=now_ms)

    def transition(self, before: Rollout, after: Rollout, action: str | None, now_ms: int) -> bool:
        """Write ``after`` if the row still has ``before``'s status and stage; log ``action`` when given."""
        a = after
        applied = self.session.execute(
            self._transition,
            (a.status, a.stage, a.stage_started_ms, a.fraction, a.assignments, json.dumps(a.evidence),
             a.recommendation, a.reason, now_ms, a.model, a.rollout_id, before.status, before.stage),
        ).was_applied  # fmt: skip
        if applied and action is not None:
            self.record(after, action, after.reason, now_ms)
        return bool(applied)

    def record(self, rollout: Rollout, action: str, reason: str, now_ms: int) -> None:
        self.session.execute(
            self._event,
            (rollout.model, rollout.rollout_id, uuid_from_time(now_ms / 1000), action, rollout.stage,
             rollout.fraction, reason, json.dumps(rollout.evidence)),
        )  # fmt: skip

    def events(self, rollout: Rollout) -> list[RolloutEvent]:
        rows = self.session.execute(self._events, (rollout.model, rollout.rollout_id))
        return [
            RolloutEvent(int(e.at), e.action, e.stage, e.fraction, e.reason or "", json.loads(e.evidence or "{}"))
            for e in map(RolloutEventRow._make, rows)
        ]


def new_rollout(model: str, candidate: int, baseline: int, spec: RolloutSpec, salt: str, now_ms: int) -> Rollout:
    return Rollout(
        model,
        uuid_from_time(now_ms / 1000),
        candidate,
        baseline,
        RolloutStatus.RUNNING,
        0,
        now_ms,
        spec,
        salt,
        reason=f"{spec.strategy} of v{candidate} against v{baseline}",
    )
