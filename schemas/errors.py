"""Errors of the topic contracts: invalid records, unknown schema ids, bytes that are not our wire format."""

from __future__ import annotations

from collections.abc import Sequence

from scorecast.errors import ScorecastError


class SchemaError(ScorecastError):
    """Base of every schema and codec error."""


class RecordValidationError(SchemaError):
    """A record does not match its schema; ``fields`` names every offending field."""

    def __init__(self, schema_name: str, problems: Sequence[tuple[str, str]]) -> None:
        self.schema_name = schema_name
        self.problems = list(problems)
        self.fields = [field for field, _ in self.problems]
        detail = "; ".join(f"{field}: {problem}" for field, problem in self.problems)
        super().__init__(f"record does not match {schema_name}: {detail}")


class UnknownSchemaIdError(SchemaError):
    def __init__(self, schema_id: int) -> None:
        self.schema_id = schema_id
        super().__init__(f"unknown schema id {schema_id}")


class WireFormatError(SchemaError):
    """The bytes do not start with the Confluent header (magic byte 0 + 4-byte schema id) or do not decode."""


class IncompatibleSchemaError(SchemaError):
    """A schema change would break readers or writers of existing data."""
