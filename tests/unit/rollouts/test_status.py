"""Rollout statuses: the stored strings are the enum's values, so rows written before the enum read back."""

from __future__ import annotations

import json
import uuid

from scorecast.io.cql.rollouts import ROLLOUT_COLUMNS, RolloutRow
from scorers.rollouts.spec import RolloutSpec
from scorers.rollouts.status import RolloutStatus, is_active
from scorers.rollouts.store import Rollout


def test_the_stored_strings_are_unchanged() -> None:
    assert [s.value for s in RolloutStatus] == ["running", "paused", "completed", "rolled_back", "aborted"]


def test_running_and_paused_split_traffic_whether_read_as_text_or_enum() -> None:
    assert [is_active(s) for s in ("running", "paused", "completed", "rolled_back", "aborted", None)] == [
        True, True, False, False, False, False
    ]  # fmt: skip
    assert is_active(RolloutStatus.PAUSED)


def test_a_row_as_selected_reads_back_by_column_name() -> None:
    rollout_id = uuid.uuid1()
    spec = RolloutSpec(strategy="canary", stages=(1.0, 100.0))
    values = dict.fromkeys(RolloutRow._fields, None) | {
        "model": "m",
        "rollout_id": rollout_id,
        "candidate": 2,
        "baseline": 1,
        "strategy": "canary",
        "status": "paused",
        "stage": 1,
        "stage_started_at": 1_000,
        "spec": json.dumps(spec.to_json()),
        "updated_at": 2_000,
    }
    selected = tuple(values[c] for c in RolloutRow._fields)  # what the driver returns, in ROLLOUT_COLUMNS' order
    rollout = Rollout.from_row(RolloutRow._make(selected))
    assert rollout.status is RolloutStatus.PAUSED
    assert rollout.active
    assert (rollout.candidate, rollout.baseline, rollout.stage) == (2, 1, 1)
    assert (rollout.stage_started_ms, rollout.updated_ms, rollout.salt, rollout.evidence) == (1_000, 2_000, "", {})
    assert ROLLOUT_COLUMNS.split(", ")[7] == "toUnixTimestamp(stage_started_at) AS stage_started_at"
