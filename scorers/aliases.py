"""Alias changes planned as pure data: which rows to delete and insert, what history to append, rollback targets.

``champion`` and ``canary`` point at one version each, ``challenger`` at any number. The registry turns a
plan into ONE batch on the model's alias partition (atomic and isolated) plus its history rows. Cassandra
resolves a delete and an insert with the same write timestamp in favour of the delete, so a plan deletes
at ``t`` and inserts at ``t + 1``, with ``t`` above every write timestamp already in the partition.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from scorers.errors import RegistryError

SINGLE_VALUED = ("champion", "canary")
MULTI_VALUED = ("challenger",)
ALIASES = SINGLE_VALUED + MULTI_VALUED


class AliasAction(StrEnum):
    """What an alias change was; ``alias_history.action`` stores the value (rows written before the enum read
    back unchanged)."""

    SET = "set"
    UNSET = "unset"
    PROMOTE = "promote"
    SWITCH = "switch"  # a blue-green flip: a promote by another name
    ROLLBACK = "rollback"
    AUTO_ROLLBACK = "auto-rollback"  # a rollout's guardrail removed its canary
    QUARANTINE = "quarantine"  # a worker took back a version that failed live


# Actions that undo the alias's current version.
ROLLBACK_ACTIONS = (AliasAction.ROLLBACK, AliasAction.AUTO_ROLLBACK, AliasAction.QUARANTINE)

Aliases = Mapping[str, tuple[int, ...]]


@dataclass(frozen=True)
class AliasChange:
    """One alias_history row. ``version`` is the alias's version after the change, ``previous`` before it."""

    alias: str
    version: int | None
    previous: int | None
    action: AliasAction
    reason: str = ""
    actor: str = ""
    changed_at: datetime | None = None


@dataclass(frozen=True)
class AliasPlan:
    delete_slices: tuple[str, ...] = ()  # whole aliases removed (at t)
    delete_rows: tuple[tuple[str, int], ...] = ()  # single (alias, version) rows removed (at t)
    inserts: tuple[tuple[str, int], ...] = ()  # (alias, version) rows written (at t + 1)
    history: tuple[AliasChange, ...] = field(default=())

    @property
    def empty(self) -> bool:
        return not (self.delete_slices or self.delete_rows or self.inserts)


def check_alias(alias: str) -> None:
    if alias not in ALIASES:
        raise RegistryError(f"unknown alias {alias!r} (aliases: {', '.join(ALIASES)})")


def single(aliases: Aliases, alias: str) -> int | None:
    versions = aliases.get(alias, ())
    return versions[0] if versions else None


def write_timestamp(now_us: int, existing: Iterable[int]) -> int:
    """A delete timestamp above every write already in the partition, so later changes always win."""
    return max([now_us, *(w + 1 for w in existing)])


def plan_set(aliases: Aliases, alias: str, version: int, reason: str, actor: str) -> AliasPlan:
    check_alias(alias)
    if alias in MULTI_VALUED:
        if version in aliases.get(alias, ()):
            return AliasPlan()
        if version == single(aliases, "champion"):
            raise RegistryError(f"version {version} is the champion; a {alias} must be another version")
        return AliasPlan(
            inserts=((alias, version),), history=(AliasChange(alias, version, None, AliasAction.SET, reason, actor),)
        )
    previous = single(aliases, alias)
    if previous == version:
        return AliasPlan()
    change = AliasChange(alias, version, previous, AliasAction.SET, reason, actor)
    return AliasPlan(delete_slices=(alias,), inserts=((alias, version),), history=(change,))


def plan_promote(
    aliases: Aliases, version: int, reason: str, actor: str, action: AliasAction = AliasAction.PROMOTE
) -> AliasPlan:
    """``version`` becomes champion; it leaves challenger/canary, where it would be scored twice."""
    previous = single(aliases, "champion")
    if previous == version:
        return AliasPlan()
    leaving = tuple((a, version) for a in ("canary", *MULTI_VALUED) if version in aliases.get(a, ()))
    history = (
        AliasChange("champion", version, previous, action, reason, actor),
        *(AliasChange(a, None, v, AliasAction.UNSET, f"{action} of v{version}", actor) for a, v in leaving),
    )
    return AliasPlan(
        delete_slices=("champion",), delete_rows=leaving, inserts=(("champion", version),), history=history
    )


def plan_unset(
    aliases: Aliases,
    alias: str,
    version: int | None,
    reason: str,
    actor: str,
    action: AliasAction = AliasAction.UNSET,
) -> AliasPlan:
    check_alias(alias)
    held = aliases.get(alias, ())
    if not held:
        raise RegistryError(f"alias {alias!r} is not set")
    if alias == "champion":
        raise RegistryError("the champion cannot be unset; promote another version or roll back")
    if version is not None and version not in held:
        raise RegistryError(f"alias {alias!r} does not hold version {version} (it holds {_list(held)})")
    removed = held if version is None else (version,)
    history = tuple(AliasChange(alias, None, v, action, reason, actor) for v in removed)
    return AliasPlan(delete_rows=tuple((alias, v) for v in removed), history=history)


def plan_quarantine(
    aliases: Aliases, alias: str, version: int, fallback: int | None, reason: str, actor: str
) -> AliasPlan:
    """Take ``version`` off ``alias`` because it failed live: back to ``fallback`` (single-valued) or left out.

    Empty when the alias no longer holds ``version`` (another worker, or a person, moved it already): a
    quarantine never overwrites a newer decision.
    """
    check_alias(alias)
    if version not in aliases.get(alias, ()):
        return AliasPlan()
    if alias in MULTI_VALUED:
        return plan_unset(aliases, alias, version, reason, actor, action=AliasAction.QUARANTINE)
    if fallback is None:
        raise RegistryError(f"quarantining {alias} v{version} needs the version that replaces it")
    if alias == "champion":
        return plan_promote(aliases, fallback, reason, actor, action=AliasAction.QUARANTINE)
    change = AliasChange(alias, fallback, version, AliasAction.QUARANTINE, reason, actor)
    return AliasPlan(delete_slices=(alias,), inserts=((alias, fallback),), history=(change,))


def champion_stack(history_oldest_first: Iterable[AliasChange], alias: str = "champion") -> list[int]:
    """The versions ``alias`` held in order of succession (champions by default); a rollback pops the one it undoes."""
    stack: list[int] = []
    for change in history_oldest_first:
        if change.alias != alias:
            continue
        if change.action == AliasAction.QUARANTINE and change.version in stack:
            while stack[-1] != change.version:  # back to the fallback, past every version it skipped
                stack.pop()
        elif change.action in ROLLBACK_ACTIONS:
            if stack:
                stack.pop()
            if change.version is not None and (not stack or stack[-1] != change.version):
                stack.append(change.version)
        elif change.version is not None and (not stack or stack[-1] != change.version):
            stack.append(change.version)
    return stack


def rollback_target(history_oldest_first: Iterable[AliasChange], current: int | None) -> int:
    if current is None:
        raise RegistryError("no champion to roll back")
    stack = champion_stack(history_oldest_first)
    if not stack or stack[-1] != current:
        stack.append(current)
    if len(stack) < 2:
        raise RegistryError(f"no previous champion to roll back to (v{current} is the first)")
    return stack[-2]


def fallback_versions(history_oldest_first: Iterable[AliasChange], alias: str, failing: int) -> list[int]:
    """Earlier versions of a single-valued ``alias`` to fall back to from ``failing``, newest first.

    Versions a rollback undid are not among them: they were taken off for a reason.
    """
    return [v for v in reversed(champion_stack(history_oldest_first, alias)) if v != failing]


def _list(versions: Iterable[int]) -> str:
    return ", ".join(str(v) for v in versions) or "nothing"
