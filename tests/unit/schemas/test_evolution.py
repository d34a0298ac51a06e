"""Schema evolution: the repository's schemas are registered, and breaking changes are named and refused."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from schemas.compat import problems
from schemas.errors import IncompatibleSchemaError
from schemas.evolution import check, register
from schemas.features import AVRO_DIR
from schemas.registry import LocalSchemaStore

EVENTS = json.loads((AVRO_DIR / "transactions.events.avsc").read_text())


def _field(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in schema["fields"] if f["name"] == name)


def test_every_schema_in_the_repository_is_registered_and_compatible_with_its_history() -> None:
    statuses = check(LocalSchemaStore())
    assert {s.name for s in statuses} >= {"transactions.events", "predictions", "labels", "signals", "dead-letters"}
    assert [s for s in statuses if not s.ok] == []


def test_compatible_changes_pass() -> None:
    new = copy.deepcopy(EVENTS)
    new["fields"].append({"name": "installments", "type": "int", "default": 1})
    _field(new, "merchant_category")["type"]["symbols"].append("crypto")  # old readers fall back to the default
    _field(new, "amount")["doc"] = "documentation does not matter"
    assert problems(EVENTS, new) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda s: s["fields"].remove(_field(s, "amount")), "amount: field missing from the writer and has no default"),
        (
            lambda s: s["fields"].append({"name": "x", "type": "int"}),
            "x: field missing from the writer and has no default",
        ),
        (lambda s: _field(s, "hour_of_day").update(type="string"), "hour_of_day: type changed from int to string"),
        (lambda s: _field(s, "amount").update(type="float"), "amount: type changed from double to float"),
        (
            lambda s: (
                _field(s, "channel")["type"].pop("default"),
                _field(s, "channel")["type"]["symbols"].remove("atm"),
            ),
            "enum symbols ['atm'] removed without an enum default",
        ),
    ],
)
def test_breaking_changes_are_named(change: Any, expected: str) -> None:
    new = copy.deepcopy(EVENTS)
    change(new)
    found = problems(EVENTS, new)
    assert any(expected in p for p in found), found
    assert any("fastavro fails on a generated record" in p for p in found)  # and the empirical check agrees


def test_backward_only_allows_dropping_a_field() -> None:
    new = copy.deepcopy(EVENTS)
    new["fields"].remove(_field(new, "foreign"))
    assert problems(EVENTS, new, "backward") == []
    assert problems(EVENTS, new, "forward") != []


def test_register_appends_compatible_versions_and_refuses_breaking_ones(
    store: LocalSchemaStore, store_dir: Path
) -> None:
    before = store.latest("labels")
    assert before is not None
    assert register(store, "labels") is None  # unchanged
    labels = json.loads((store_dir / "labels.avsc").read_text())
    labels["fields"].append({"name": "source", "type": "string", "default": "chargeback"})
    (store_dir / "labels.avsc").write_text(json.dumps(labels))
    assert [s.state for s in check(store) if s.name == "labels"] == ["changed"]
    added = register(store, "labels")
    assert added is not None
    assert added.id == max(v.id for v in store.versions)
    assert [v.id for v in LocalSchemaStore(store.path, store_dir).history("labels")] == [before.id, added.id]
    labels["fields"][2]["type"] = "string"  # label: int -> string
    (store_dir / "labels.avsc").write_text(json.dumps(labels))
    with pytest.raises(IncompatibleSchemaError, match="label: type changed from int to string"):
        register(store, "labels")


def test_the_schemas_check_command_passes_on_the_repository() -> None:
    from typer.testing import CliRunner

    from schemas.cli import app

    result = CliRunner().invoke(app, ["check"])
    assert result.exit_code == 0, result.output
    assert "transactions.events" in result.output
    assert "registered" in result.output
