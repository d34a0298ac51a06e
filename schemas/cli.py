"""`scorecast schemas`: check the schema files against their registered versions, register compatible changes."""

from __future__ import annotations

from typing import Annotated

import typer

from schemas.compat import Mode
from schemas.errors import SchemaError
from schemas.evolution import check, register, schema_names
from schemas.registry import LocalSchemaStore

app = typer.Typer(no_args_is_help=True, help="Topic schemas: compatibility checks and the committed schema ids.")
ModeOption = Annotated[str, typer.Option(help="backward, forward or full (both)")]


def _mode(mode: str) -> Mode:
    if mode not in ("backward", "forward", "full"):
        raise SchemaError(f"unknown mode {mode!r}: use backward, forward or full")
    return mode  # type: ignore[return-value]


@app.command("check")
def check_command(mode: ModeOption = "full") -> None:
    """Fail if a schema file changed without being registered, or if any change breaks compatibility."""
    statuses = check(LocalSchemaStore(), _mode(mode))
    for s in statuses:
        ident = f"id {s.schema_id}" if s.schema_id else "no id"
        print(f"{s.name:24} {s.state:13} {ident}")
        for problem in s.problems:
            print(f"    {problem}")
    bad = [s for s in statuses if not s.ok]
    if bad:
        raise SchemaError(f"{len(bad)} schema(s) not registered or not compatible: {', '.join(s.name for s in bad)}")


@app.command("register")
def register_command(
    names: Annotated[list[str] | None, typer.Argument(help="schema names (default: all)")] = None,
    mode: ModeOption = "full",
) -> None:
    """Give changed schema files a new id in schemas/avro/registry.json after a compatibility check."""
    store = LocalSchemaStore()
    for name in names or schema_names(store):
        added = register(store, name, _mode(mode))
        print(f"{name}: " + (f"registered as id {added.id}" if added else "unchanged"))
