"""`scorecast schemas`: check the schema files against their registered versions, register compatible changes.

Without a registry the versions are the ids committed in schemas/avro/registry.json; with
SCORECAST_SCHEMA_REGISTRY_URL set they are the registry's subjects (schemas.registry_sync).
"""

from __future__ import annotations

from typing import Annotated

import typer

from schemas.compat import Mode
from schemas.errors import IncompatibleSchemaError, SchemaError
from schemas.evolution import SchemaStatus, check, register, schema_names
from schemas.registry import LocalSchemaStore, RegistrySchemaStore, open_store
from scorecast.settings import Settings

app = typer.Typer(no_args_is_help=True, help="Topic schemas: compatibility checks and the committed schema ids.")
ModeOption = Annotated[
    str, typer.Option(help="backward, forward or full (both); with a registry: the level register gives a subject")
]
StreamOption = Annotated[
    list[str] | None,
    typer.Option("--stream", help="with a registry: the streams whose topics' subjects to use (default: all)"),
]


def _mode(mode: str) -> Mode:
    if mode not in ("backward", "forward", "full"):
        raise SchemaError(f"unknown mode {mode!r}: use backward, forward or full")
    return mode  # type: ignore[return-value]


def _print(label: str, s: SchemaStatus, width: int = 24) -> None:
    ident = f"id {s.schema_id}" if s.schema_id else "no id"
    print(f"{label:{width}} {s.state:13} {ident}")
    for problem in s.problems:
        print(f"    {problem}")


@app.command("check")
def check_command(mode: ModeOption = "full", stream: StreamOption = None) -> None:
    """Fail if a schema change breaks compatibility (with a registry: the registry's verdict per subject), or,
    without a registry or with auto-registration off, if a schema file changed without being registered."""
    settings = Settings()
    mode_ = _mode(mode)
    store = open_store(settings)
    if isinstance(store, RegistrySchemaStore):
        from schemas import registry_sync

        # Producers register a compatible change themselves unless auto-registration is off.
        pending_ok = settings.schema_registry_auto_register
        bad: list[str] = []
        targets = registry_sync.targets(settings, store, stream or registry_sync.streams_with_schemas())
        width = max(len(t.subject) for t in targets)
        for target in targets:
            s = registry_sync.status(store, target)
            _print(target.subject, s, width)
            if s.state == "incompatible" or (not s.ok and not pending_ok):
                bad.append(target.subject)
        if bad:
            raise IncompatibleSchemaError(
                f"{len(bad)} subject(s) not registered or not compatible at {store.url}: {', '.join(bad)}"
            )
        return
    statuses = check(LocalSchemaStore(), mode_)
    for s in statuses:
        _print(s.name, s)
    failed = [s for s in statuses if not s.ok]
    if failed:
        raise SchemaError(
            f"{len(failed)} schema(s) not registered or not compatible: {', '.join(s.name for s in failed)}"
        )


@app.command("register")
def register_command(
    names: Annotated[list[str] | None, typer.Argument(help="schema names (default: all)")] = None,
    mode: ModeOption = "full",
    stream: StreamOption = None,
) -> None:
    """Register changed schemas after a compatibility check: in schemas/avro/registry.json, or with a registry
    under each topic's subject (whose compatibility level is set to the mode if it has none)."""
    settings = Settings()
    mode_ = _mode(mode)
    store = open_store(settings)
    if isinstance(store, RegistrySchemaStore):
        from schemas import registry_sync

        for target in registry_sync.targets(
            settings, store, stream or registry_sync.streams_with_schemas(), names or ()
        ):
            schema_id, added = registry_sync.register(store, target, mode_)
            print(f"{target.subject}: " + (f"registered as id {schema_id}" if added else f"unchanged (id {schema_id})"))
        return
    local = LocalSchemaStore()
    for name in names or schema_names(local):
        added_schema = register(local, name, mode_)
        print(f"{name}: " + (f"registered as id {added_schema.id}" if added_schema else "unchanged"))
