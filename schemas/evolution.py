"""`scorecast schemas check` and `register`: every schema file against its latest registered version.

A schema file that changed must be registered before use, and registering refuses a change that would break
existing data or existing readers (schemas.compat, mode FULL by default: events outlive both producers and
scorers, which are upgraded independently).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from schemas.compat import Mode, problems
from schemas.errors import IncompatibleSchemaError
from schemas.registry import LocalSchemaStore, RegisteredSchema, schema_fingerprint


@dataclass(frozen=True)
class SchemaStatus:
    name: str
    state: str  # registered | new | changed | incompatible
    schema_id: int | None  # id of the latest registered version
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.state == "registered"


def schema_names(store: LocalSchemaStore) -> list[str]:
    return sorted(p.name.removesuffix(".avsc") for p in store.avro_dir.glob("*.avsc"))


def status(store: LocalSchemaStore, name: str, mode: Mode = "full") -> SchemaStatus:
    current = store.current(name)
    latest = store.latest(name)
    if latest is None:
        return SchemaStatus(name, "new", None)
    if latest.fingerprint == schema_fingerprint(current):
        return SchemaStatus(name, "registered", latest.id)
    found = problems(latest.schema, current, mode)
    return SchemaStatus(name, "incompatible" if found else "changed", latest.id, tuple(found))


def check(store: LocalSchemaStore, mode: Mode = "full") -> list[SchemaStatus]:
    """The state of every schema file; also re-checks the registered history, version after version."""
    statuses = [status(store, name, mode) for name in schema_names(store)]
    for name in schema_names(store):
        history = store.history(name)
        for old, new in itertools.pairwise(history):
            found = problems(old.schema, new.schema, mode)
            if found:
                statuses.append(SchemaStatus(name, "incompatible", new.id, (f"id {old.id} -> id {new.id}", *found)))
    return statuses


def register(store: LocalSchemaStore, name: str, mode: Mode = "full") -> RegisteredSchema | None:
    """Append the current file of ``name`` as a new version; None if it is already the latest."""
    state = status(store, name, mode)
    if state.state == "incompatible":
        raise IncompatibleSchemaError(f"{name}: " + "; ".join(state.problems))
    if state.state == "registered":
        return None
    return store.append(name, store.current(name))
