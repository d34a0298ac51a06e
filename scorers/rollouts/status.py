"""Where a rollout stands (the ``status`` column of ``rollouts``), and which statuses still split traffic.

The values are the strings stored since the table exists, so every row written before reads back; the lookup
API and the controller decide "active" by the one rule here.
"""

from __future__ import annotations

from enum import StrEnum


class RolloutStatus(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"  # the candidate was promoted
    ROLLED_BACK = "rolled_back"
    ABORTED = "aborted"


# A paused rollout still serves its current split: pausing holds a stage, it does not end the rollout.
ACTIVE = frozenset({RolloutStatus.RUNNING, RolloutStatus.PAUSED})


def is_active(status: str | None) -> bool:
    """Whether a rollout with this stored status still splits the champion's traffic."""
    return status in ACTIVE
