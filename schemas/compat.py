"""Schema evolution checks: can a new schema read old data (backward) and old readers read new data (forward)?

Two checks, both must pass: the Avro resolution rules applied to the two schemas (so the report names the
field and the rule), and an empirical one: records generated from the writer schema are written with fastavro
and read back through the reader schema.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any, Literal

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.utils import generate_many

from schemas.registry import expanded

Mode = Literal["backward", "forward", "full"]
_PROMOTIONS = {
    "int": {"int", "long", "float", "double"},
    "long": {"long", "float", "double"},
    "float": {"float", "double"},
    "string": {"string", "bytes"},
    "bytes": {"bytes", "string"},
}


def problems(old: dict[str, Any], new: dict[str, Any], mode: Mode = "full") -> list[str]:
    """Every reason why ``new`` cannot replace ``old`` under ``mode``; empty when it can."""
    found: list[str] = []
    if mode in ("backward", "full"):
        found += [f"new schema cannot read old data: {p}" for p in resolution_problems(old, new)]
        found += _round_trip(old, new, "new schema cannot read old data")
    if mode in ("forward", "full"):
        found += [f"old readers cannot read new data: {p}" for p in resolution_problems(new, old)]
        found += _round_trip(new, old, "old readers cannot read new data")
    return found


def resolution_problems(writer: Any, reader: Any) -> list[str]:
    """Where data written with ``writer`` cannot be resolved to ``reader`` (Avro specification rules)."""
    return list(_resolve(expanded(writer), expanded(reader), _name(reader) or "<root>"))


def _name(schema: Any) -> str:
    return schema.get("name", "") if isinstance(schema, dict) else ""


def _kind(schema: Any) -> str:
    if isinstance(schema, list):
        return "union"
    if isinstance(schema, dict):
        kind = schema["type"]
        return kind if isinstance(kind, str) else _kind(kind)
    return str(schema)


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _resolve(writer: Any, reader: Any, path: str) -> Iterator[str]:
    wkind, rkind = _kind(writer), _kind(reader)
    if wkind == "union":
        # Every branch the writer may have used must resolve against the reader.
        for branch in writer:
            yield from _resolve(branch, reader, path)
        return
    if rkind == "union":
        if not any(not list(_resolve(writer, branch, path)) for branch in reader):
            yield f"{path}: {wkind} is in no branch of the reader's union"
        return
    if wkind != rkind:
        if rkind not in _PROMOTIONS.get(wkind, {wkind}):
            yield f"{path}: type changed from {wkind} to {rkind}"
        return
    if wkind == "record":
        if _short(writer["name"]) != _short(reader["name"]) and _short(writer["name"]) not in reader.get("aliases", []):
            yield f"{path}: record renamed from {writer['name']} to {reader['name']} without an alias"
        written = {f["name"]: f for f in writer["fields"]}
        for field in reader["fields"]:
            names = [field["name"], *field.get("aliases", [])]
            source = next((written[n] for n in names if n in written), None)
            if source is None:
                if "default" not in field:
                    yield f"{path}.{field['name']}: field missing from the writer and has no default"
                continue
            yield from _resolve(source["type"], field["type"], f"{path}.{field['name']}")
    elif wkind == "enum":
        missing = [s for s in writer["symbols"] if s not in reader["symbols"]]
        if missing and "default" not in reader:
            yield f"{path}: enum symbols {missing} removed without an enum default"
    elif wkind == "array":
        yield from _resolve(writer["items"], reader["items"], f"{path}[]")
    elif wkind == "map":
        yield from _resolve(writer["values"], reader["values"], f"{path}{{}}")
    elif wkind == "fixed" and writer["size"] != reader["size"]:
        yield f"{path}: fixed size changed from {writer['size']} to {reader['size']}"


def _round_trip(writer: dict[str, Any], reader: dict[str, Any], what: str, count: int = 200) -> list[str]:
    parsed_writer = parse_schema(writer)
    parsed_reader = parse_schema(reader)
    for record in generate_many(parsed_writer, count):
        buffer = io.BytesIO()
        schemaless_writer(buffer, parsed_writer, record)
        buffer.seek(0)
        try:
            schemaless_reader(buffer, parsed_writer, parsed_reader)
        except Exception as error:  # any failure to resolve is the finding
            return [f"{what}: fastavro fails on a generated record ({type(error).__name__}: {error})"]
    return []
