"""Alias plans: what a change deletes, inserts and records; the champion stack behind rollback."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scorers.aliases import (
    AliasAction,
    AliasChange,
    champion_stack,
    fallback_versions,
    plan_promote,
    plan_quarantine,
    plan_set,
    plan_unset,
    rollback_target,
    write_timestamp,
)
from scorers.errors import RegistryError


def test_single_valued_alias_replaces_its_slice() -> None:
    plan = plan_set({"champion": (1,), "canary": (2,)}, "canary", 3, "try v3", "ana")
    assert plan.delete_slices == ("canary",)
    assert plan.inserts == (("canary", 3),)
    assert plan.history == (AliasChange("canary", 3, 2, AliasAction.SET, "try v3", "ana"),)


def test_challenger_accumulates_and_setting_twice_is_a_no_op() -> None:
    plan = plan_set({"champion": (1,), "challenger": (2,)}, "challenger", 3, "", "ana")
    assert (plan.delete_slices, plan.delete_rows, plan.inserts) == ((), (), (("challenger", 3),))
    assert plan_set({"challenger": (2, 3)}, "challenger", 3, "", "ana").empty
    assert plan_set({"champion": (1,)}, "champion", 1, "", "ana").empty


def test_refusals() -> None:
    with pytest.raises(RegistryError, match="unknown alias 'champoin'"):
        plan_set({}, "champoin", 1, "", "ana")
    with pytest.raises(RegistryError, match="is the champion"):
        plan_set({"champion": (1,)}, "challenger", 1, "", "ana")
    with pytest.raises(RegistryError, match="cannot be unset"):
        plan_unset({"champion": (1,)}, "champion", None, "", "ana")
    with pytest.raises(RegistryError, match="not set"):
        plan_unset({"champion": (1,)}, "canary", None, "", "ana")
    with pytest.raises(RegistryError, match="does not hold version 9"):
        plan_unset({"challenger": (2, 3)}, "challenger", 9, "", "ana")


def test_unset_one_or_all_challengers() -> None:
    one = plan_unset({"challenger": (2, 3)}, "challenger", 3, "done", "ana")
    assert one.delete_rows == (("challenger", 3),)
    assert one.history == (AliasChange("challenger", None, 3, AliasAction.UNSET, "done", "ana"),)
    assert plan_unset({"challenger": (2, 3)}, "challenger", None, "", "ana").delete_rows == (
        ("challenger", 2),
        ("challenger", 3),
    )


def test_promote_moves_the_version_out_of_challenger_and_canary() -> None:
    plan = plan_promote({"champion": (1,), "challenger": (2, 3), "canary": (2,)}, 2, "wins", "ana")
    assert plan.delete_slices == ("champion",)
    assert set(plan.delete_rows) == {("challenger", 2), ("canary", 2)}
    assert plan.inserts == (("champion", 2),)
    assert plan.history[0] == AliasChange("champion", 2, 1, AliasAction.PROMOTE, "wins", "ana")
    assert plan_promote({"champion": (2,)}, 2, "", "ana").empty


def _history(*steps: tuple[str, int]) -> list[AliasChange]:
    return [AliasChange("champion", version, None, AliasAction(action), "", "") for action, version in steps]


def test_rollback_walks_back_through_champions() -> None:
    history = _history(("promote", 1), ("promote", 2), ("promote", 3))
    assert rollback_target(history, 3) == 2
    history += _history(("rollback", 2))
    assert rollback_target(history, 2) == 1
    history += _history(("rollback", 1))
    with pytest.raises(RegistryError, match="no previous champion"):
        rollback_target(history, 1)


def test_rollback_ignores_other_aliases_and_needs_a_champion() -> None:
    history = [*_history(("set", 1)), AliasChange("challenger", 2, None, AliasAction.SET), *_history(("promote", 3))]
    assert rollback_target(history, 3) == 1
    with pytest.raises(RegistryError, match="no champion"):
        rollback_target(history, None)


def test_quarantine_moves_a_single_alias_back_and_drops_a_challenger() -> None:
    held = {"champion": (3,), "canary": (4,), "challenger": (5, 6)}
    champion = plan_quarantine(held, "champion", 3, 2, "Gather failed", "scorer w1")
    assert (champion.delete_slices, champion.inserts) == (("champion",), (("champion", 2),))
    assert champion.history[0] == AliasChange("champion", 2, 3, AliasAction.QUARANTINE, "Gather failed", "scorer w1")
    canary = plan_quarantine(held, "canary", 4, 3, "nan", "w")
    assert (canary.delete_slices, canary.inserts) == (("canary",), (("canary", 3),))
    assert canary.history == (AliasChange("canary", 3, 4, AliasAction.QUARANTINE, "nan", "w"),)
    challenger = plan_quarantine(held, "challenger", 6, None, "nan", "w")
    assert challenger.delete_rows == (("challenger", 6),)
    assert challenger.history == (AliasChange("challenger", None, 6, AliasAction.QUARANTINE, "nan", "w"),)


def test_quarantine_never_overwrites_a_newer_alias_change() -> None:
    # Another worker quarantined v3 already, or someone promoted v4 meanwhile: nothing to write.
    assert plan_quarantine({"champion": (4,)}, "champion", 3, 2, "", "w").empty
    assert plan_quarantine({"challenger": (5,)}, "challenger", 6, None, "", "w").empty
    with pytest.raises(RegistryError, match="needs the version that replaces it"):
        plan_quarantine({"champion": (3,)}, "champion", 3, None, "", "w")


def test_rollback_after_a_quarantine_skips_the_quarantined_version() -> None:
    history = _history(("promote", 1), ("promote", 2), ("promote", 3), ("quarantine", 2))
    assert champion_stack(history) == [1, 2]
    assert rollback_target(history, 2) == 1
    history += _history(("promote", 4))
    assert fallback_versions(history, "champion", 4) == [2, 1]
    # A quarantine that skipped versions (v3 and v2 both unverifiable at start) goes back past both.
    skipped = _history(("promote", 1), ("promote", 2), ("promote", 3), ("quarantine", 1))
    assert champion_stack(skipped) == [1]
    assert fallback_versions(
        _history(("promote", 1), ("promote", 2), ("rollback", 1), ("promote", 3)), "champion", 3
    ) == [1]


@given(st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=30))
def test_stack_after_promotions_never_repeats_adjacent_versions(versions: list[int]) -> None:
    stack = champion_stack(_history(*(("promote", v) for v in versions)))
    assert stack[-1] == versions[-1]
    assert all(a != b for a, b in itertools.pairwise(stack))


@given(st.integers(min_value=0, max_value=2**60), st.lists(st.integers(min_value=0, max_value=2**60), max_size=5))
def test_write_timestamp_is_above_every_existing_write(now: int, existing: list[int]) -> None:
    t = write_timestamp(now, existing)
    assert t >= now
    assert all(t > w for w in existing)


def test_the_stored_action_strings_are_unchanged() -> None:
    # alias_history rows written before the enum read back as members, and the enum writes the same strings
    stored = ["set", "unset", "promote", "switch", "rollback", "auto-rollback", "quarantine"]
    assert [a.value for a in AliasAction] == stored
    assert [AliasAction(s) for s in stored] == list(AliasAction)
    assert f"{AliasAction.AUTO_ROLLBACK} of v3" == "auto-rollback of v3"
