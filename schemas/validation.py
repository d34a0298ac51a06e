"""Record validation before encoding, fast enough for the producer's hot path.

fastavro's ``validate`` costs about 14 µs for a 20-field record, three times the encoding itself. Here a record
schema compiles once into a single Python function: one type test per field, inlined for primitives, enums
and timestamps, fastavro's validation for anything nested (the technique of dataclasses and fastjsonschema).
Without validation, fastavro's writer would silently truncate 1.5 into an int. The detailed report of what
is wrong stays with fastavro (``AvroCodec.problems``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from fastavro import parse_schema
from fastavro.validation import validate

from schemas.registry import expanded
from schemas.rules import FLOAT32_LIMIT, fits_float32

Predicate = Callable[[Any], bool]
_INT = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
# Expression templates over the value `v`; exact type tests, so True is not an int and 1 is not a boolean.
_TESTS = {
    "string": "type(v) is str",
    "boolean": "type(v) is bool",
    "double": "type(v) in _NUMBER",
    "float": "type(v) in _NUMBER",
    "bytes": "type(v) in _BYTES",
    "null": "v is None",
    **{name: f"(type(v) is int and {low} <= v <= {high})" for name, (low, high) in _INT.items()},
}
_TIMESTAMP = f"((type(v) is int and {_INT['long'][0]} <= v <= {_INT['long'][1]}) or isinstance(v, _datetime))"


def _fastavro(field_type: Any) -> Predicate:
    one = {"type": "record", "name": "field", "fields": [{"name": "v", "type": field_type}]}
    parsed = parse_schema(one, _write_hint=False)
    return lambda v: bool(validate({"v": v}, parsed, raise_errors=False))


def _test(field_type: Any, slot: str, helpers: dict[str, Any]) -> str:
    """A Python expression, over a value `v`, that is True when `v` is valid for ``field_type``."""
    if isinstance(field_type, str) and field_type in _TESTS:
        return _TESTS[field_type]
    if isinstance(field_type, list) and all(isinstance(t, str) and t in _TESTS for t in field_type):
        return "(" + " or ".join(_TESTS[t] for t in field_type) + ")"
    if isinstance(field_type, dict):
        logical = field_type.get("logicalType")
        if logical in ("timestamp-millis", "timestamp-micros"):
            return _TIMESTAMP
        if logical is None and field_type["type"] == "enum":
            helpers[f"_symbols_{slot}"] = frozenset(field_type["symbols"])
            return f"(type(v) is str and v in _symbols_{slot})"
        if logical is None and field_type["type"] in _TESTS:
            return _TESTS[field_type["type"]]
    helpers[f"_check_{slot}"] = _fastavro(field_type)  # records, arrays, maps, fixed, mixed unions
    return f"_check_{slot}(v)"


def _compile(fields: list[dict[str, Any]], finite: frozenset[str]) -> Predicate:
    helpers: dict[str, Any] = {"_NUMBER": frozenset({int, float}), "_BYTES": frozenset({bytes, bytearray})}
    helpers |= {"_datetime": dt.datetime, "_FLOAT32_LIMIT": FLOAT32_LIMIT}
    helpers["_names"] = frozenset(f["name"] for f in fields)
    lines = ["def check(r):", "    if not _names.issuperset(r):", "        return False"]
    for slot, field in enumerate(fields):
        test = _test(field["type"], str(slot), helpers)
        if field["name"] in finite:
            test = f"{test} and abs(v) < _FLOAT32_LIMIT"  # rules.fits_float32, inlined
        name = repr(field["name"])
        if "default" in field:  # may be left out: the writer fills the default in
            lines += [
                f"    if {name} in r:",
                f"        v = r[{name}]",
                f"        if not ({test}):",
                "            return False",
            ]
        else:  # a missing required field raises KeyError: invalid
            lines += [f"    v = r[{name}]", f"    if not ({test}):", "        return False"]
    lines.append("    return True")
    namespace = dict(helpers)
    exec("\n".join(lines), namespace)  # the source is built above; field names enter only through repr()
    check: Callable[[Mapping[str, Any]], bool] = namespace["check"]

    def safe(record: Any) -> bool:
        try:
            return check(record)
        except (KeyError, TypeError):  # missing field; unhashable value tested against enum symbols
            return False

    return safe


class RecordValidator:
    """``validator(record)`` is True when ``record`` has only the schema's fields, all required ones, each of the
    right type; with ``finite``, those numeric fields must also be finite as float32 (schemas.rules)."""

    def __init__(self, schema: dict[str, Any], finite: frozenset[str] = frozenset()) -> None:
        fields = expanded(schema)["fields"]
        self.names = frozenset(f["name"] for f in fields)
        self._finite = [f["name"] for f in fields if f["name"] in finite]
        self._check = _compile(fields, finite)

    def __call__(self, record: Mapping[str, Any]) -> bool:
        return self._check(record)

    def non_finite(self, record: Mapping[str, Any]) -> list[str]:
        return [n for n in self._finite if type(record.get(n)) in (int, float) and not fits_float32(record[n])]
