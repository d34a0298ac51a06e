"""Avro records to Kafka message values and back, in the Confluent wire format.

A value is the magic byte 0, the writer schema id as a 4-byte big-endian integer, then the Avro binary body
without any schema (fastavro's schemaless encoding). Decoding reads the writer schema of the id in the bytes
and resolves it to the current schema, so data written before a compatible change stays readable.
Timestamps are int epoch milliseconds both ways (a datetime is accepted when encoding).
"""

from __future__ import annotations

import functools
import io
import struct
from collections.abc import Mapping
from typing import Any, cast

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.validation import validate

from schemas.errors import RecordValidationError, WireFormatError
from schemas.registry import SchemaStore, expanded, schema_fingerprint
from schemas.validation import RecordValidator

MAGIC = 0
HEADER = struct.Struct(">bI")


def frame(schema_id: int, body: bytes) -> bytes:
    return HEADER.pack(MAGIC, schema_id) + body


def schema_id_of(value: bytes) -> int:
    """The schema id in a message value; raises WireFormatError if it has no Confluent header."""
    if len(value) < HEADER.size or value[0] != MAGIC:
        raise WireFormatError("not Confluent wire format (magic byte 0 + 4-byte schema id)")
    return int.from_bytes(value[1:5], "big")


def plain(schema: Any) -> Any:
    """The schema without logical types: the same bytes, but timestamps decode as ints, not datetimes."""
    if isinstance(schema, list):
        return [plain(s) for s in schema]
    if isinstance(schema, dict):
        return {k: plain(v) for k, v in schema.items() if k != "logicalType"}
    return schema


class AvroCodec:
    """Encode and decode the records of one schema, with the schema ids of ``store``. Schemas parse once."""

    def __init__(self, store: SchemaStore, topic: str, name: str, finite: frozenset[str] = frozenset()) -> None:
        """``finite``: numeric fields that must not be NaN or infinite (features, typically)."""
        self.store = store
        self.topic = topic
        self.name = name
        self.raw_schema = store.current(name)
        self.schema = parse_schema(self.raw_schema)
        self.reader_schema = parse_schema(plain(self.raw_schema))
        self._reader_fingerprint = schema_fingerprint(self.raw_schema)
        self.field_names = frozenset(f["name"] for f in self.raw_schema["fields"])
        self.valid = RecordValidator(self.raw_schema, finite)
        self._buffer = io.BytesIO()
        self._writers: dict[int, Any] = {}
        self._same_as_reader: set[int] = set()  # writer ids whose schema is the current one: no resolution
        self._field_schemas: dict[str, dict[str, Any]] = {}

    @functools.cached_property
    def schema_id(self) -> int:
        """The id the current schema is written under; asked of the store at the first encode only, so a codec
        that only decodes never registers (nor looks up) a writer schema."""
        return self.store.writer_id(self.topic, self.name)

    @functools.cached_property
    def _header(self) -> bytes:
        return HEADER.pack(MAGIC, self.schema_id)

    # -- encoding -------------------------------------------------------------------------------------------

    def check(self, record: Mapping[str, Any]) -> None:
        """Raise RecordValidationError naming every missing, unknown or wrongly typed field."""
        if not isinstance(record, Mapping):
            raise RecordValidationError(self.name, [("<record>", f"expected an object, got {type(record).__name__}")])
        if self.valid(record):
            return
        raise RecordValidationError(self.name, self.problems(record))

    def problems(self, record: Mapping[str, Any]) -> list[tuple[str, str]]:
        """Each offending field with what is wrong (slow path, only used for records that fail)."""
        found = [(name, "not in the schema") for name in record if name not in self.field_names]
        for field in self.raw_schema["fields"]:
            name = field["name"]
            if name not in record:
                if "default" not in field:
                    found.append((name, "missing"))
            elif not validate({name: record[name]}, self._field_schema(field), raise_errors=False):
                found.append((name, f"{record[name]!r} is not a valid {_describe(field['type'])}"))
        return found + [(name, "must be finite as float32") for name in self.valid.non_finite(record)]

    def _field_schema(self, field: dict[str, Any]) -> dict[str, Any]:
        if not self._field_schemas:
            for f in expanded(self.schema)["fields"]:
                name = f["name"]
                one = {"type": "record", "name": f"check_{name}", "fields": [{"name": name, "type": f["type"]}]}
                self._field_schemas[name] = cast("dict[str, Any]", parse_schema(one, _write_hint=False))
        return self._field_schemas[field["name"]]

    def encode(self, record: Mapping[str, Any], check: bool = True) -> bytes:
        """One message value; ``check=False`` skips validation for records known to be valid."""
        if check:
            self.check(record)
        buffer = self._buffer
        buffer.seek(0)
        buffer.truncate()
        buffer.write(self._header)
        schemaless_writer(buffer, self.schema, record)
        return buffer.getvalue()

    # -- decoding -------------------------------------------------------------------------------------------

    def writer_schema(self, schema_id: int) -> Any:
        """The parsed (plain) writer schema of an id; raises UnknownSchemaIdError."""
        if schema_id not in self._writers:
            writer = self.store.by_id(schema_id)
            if schema_fingerprint(writer) == self._reader_fingerprint:
                self._same_as_reader.add(schema_id)
            self._writers[schema_id] = parse_schema(plain(writer))
        return self._writers[schema_id]

    def decode(self, value: bytes, unicode_errors: str = "strict") -> dict[str, Any]:
        """One record, resolved to the current schema. Raises WireFormatError or UnknownSchemaIdError.
        ``unicode_errors="surrogateescape"`` keeps a string that is not UTF-8 (as lone surrogates) for a
        caller that reports which field it is (schemas.rules)."""
        schema_id = schema_id_of(value)
        writer = self.writer_schema(schema_id)
        reader = None if schema_id in self._same_as_reader else self.reader_schema
        body = io.BytesIO(value)
        body.seek(HEADER.size)
        try:
            record = schemaless_reader(body, writer, reader, handle_unicode_errors=unicode_errors)
        except Exception as error:  # fastavro raises EOFError, ValueError, UnicodeDecodeError, ...
            raise WireFormatError(
                f"undecodable body for schema id {schema_id}: {type(error).__name__}: {error}"
            ) from error
        if body.tell() != len(value):
            raise WireFormatError(f"{len(value) - body.tell()} trailing bytes after the record")
        return cast("dict[str, Any]", record)


def _describe(avro_type: Any) -> str:
    if isinstance(avro_type, list):
        return " or ".join(_describe(t) for t in avro_type)
    if isinstance(avro_type, dict):
        if avro_type.get("type") == "enum":
            return f"{avro_type['name']} (one of {', '.join(avro_type['symbols'])})"
        return str(avro_type.get("logicalType", avro_type["type"]))
    return str(avro_type)
