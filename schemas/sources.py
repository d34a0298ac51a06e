"""Records from files for `scorecast produce`: JSON Lines or CSV, each with its line number, bad lines as values.

CSV cells are text, so each is converted by its field's Avro type (ints, doubles, booleans as true/false/1/0,
timestamps as epoch milliseconds or ISO-8601); an empty cell leaves the field out (its default applies, or
validation reports it missing).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas.errors import SchemaError


@dataclass(frozen=True)
class SourceLine:
    line: int  # 1-based line number in the file (CSV: the header is line 1)
    raw: str
    record: dict[str, Any] | None  # None when the line could not be parsed
    error: str = ""


def _timestamp(text: str) -> int:
    if text.lstrip("-").isdigit():
        return int(text)
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


def _boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ValueError(f"{text!r} is not a boolean")


def _converter(avro_type: Any) -> Callable[[str], Any]:
    if isinstance(avro_type, list):  # nullable: the non-null branch converts
        branches = [t for t in avro_type if t != "null"]
        return _converter(branches[0]) if len(branches) == 1 else str
    if isinstance(avro_type, dict):
        if avro_type.get("logicalType", "").startswith("timestamp"):
            return _timestamp
        avro_type = avro_type["type"]
    conversions: dict[str, Callable[[str], Any]] = {"int": int, "long": int, "double": float, "float": float}
    return _boolean if avro_type == "boolean" else conversions.get(str(avro_type), str)


def parse_jsonl(lines: Iterable[str]) -> Iterator[SourceLine]:
    """JSON Lines: one object a line; blank lines are skipped, but still counted."""
    for number, raw in enumerate(lines, start=1):
        text = raw.rstrip("\r\n")
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as error:
            yield SourceLine(number, text, None, f"not JSON: {error}")
            continue
        if not isinstance(record, dict):
            yield SourceLine(number, text, None, f"expected a JSON object, got {type(record).__name__}")
            continue
        yield SourceLine(number, text, record)


def parse_csv(lines: Iterable[str], schema: dict[str, Any]) -> Iterator[SourceLine]:
    """CSV with a header row naming the fields; cells converted by the field's type in ``schema``."""
    converters = {f["name"]: _converter(f["type"]) for f in schema["fields"]}
    rows = csv.DictReader(lines)
    for row in rows:
        raw = ",".join(v for v in row.values() if isinstance(v, str))
        record: dict[str, Any] = {}
        errors = []
        for name, cell in row.items():
            if name is None or cell is None:
                errors.append("row has more cells than the header" if name is None else f"{name}: missing cell")
            elif cell != "":
                try:
                    record[name] = converters.get(name, str)(cell)
                except ValueError as error:
                    errors.append(f"{name}: {error}")
        yield SourceLine(rows.line_num, raw, None if errors else record, "; ".join(errors))


def read_records(path: Path, schema: dict[str, Any]) -> list[SourceLine]:
    """The lines of a .jsonl/.ndjson or .csv file."""
    suffix = path.suffix.lower()
    if not path.exists():
        raise SchemaError(f"no such file: {path}")
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        if suffix in (".jsonl", ".ndjson", ".json"):
            return list(parse_jsonl(handle))
        if suffix == ".csv":
            return list(parse_csv(handle, schema))
    raise SchemaError(f"{path.name}: unsupported file type (use .jsonl or .csv)")
