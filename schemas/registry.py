"""Where schema ids come from: the ids committed in this repository, or a Confluent Schema Registry by URL.

The local store is ``schemas/avro/registry.json``, append-only: every version of every schema with a stable
id, so bytes written with an old id stay readable after a schema change. ``scorecast schemas register``
appends a version after checking compatibility; ``scorecast schemas check`` fails while a schema file differs
from its latest registered version. With ``SCORECAST_SCHEMA_REGISTRY_URL`` set, ids are those of the registry
(subjects follow the TopicNameStrategy, ``<topic>-value``); producers and consumers must use the same kind.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from fastavro.schema import expand_schema, fingerprint, parse_schema, to_parsing_canonical_form

from schemas.errors import SchemaError, UnknownSchemaIdError
from schemas.features import AVRO_DIR
from scorecast.errors import ServiceUnavailableError

if TYPE_CHECKING:
    from scorecast.settings import Settings

REGISTRY_FILE = AVRO_DIR / "registry.json"
# Topic kind -> schema name (a file <name>.avsc); "{stream}" is filled in. Shadow topics carry events.
KIND_SCHEMAS = {
    "events": "{stream}.events",
    "shadow": "{stream}.events",
    "predictions": "predictions",
    "shadow-predictions": "predictions",
    "labels": "labels",
    "dead-letters": "dead-letters",
    "signals": "signals",
}


def schema_name(stream: str, kind: str) -> str:
    """The schema a topic of this kind carries."""
    if kind not in KIND_SCHEMAS:
        raise SchemaError(f"no schema for topic kind {kind!r}; kinds: {', '.join(KIND_SCHEMAS)}")
    return KIND_SCHEMAS[kind].format(stream=stream)


def subject(topic: str) -> str:
    """Confluent TopicNameStrategy subject of a topic's values."""
    return f"{topic}-value"


def load_schema_file(name: str, avro_dir: Path = AVRO_DIR) -> dict[str, Any]:
    path = avro_dir / f"{name}.avsc"
    if not path.exists():
        raise SchemaError(f"no schema named {name!r} (expected {path})")
    schema: dict[str, Any] = json.loads(path.read_text())
    return schema


def expanded(schema: Any) -> dict[str, Any]:
    """A record schema parsed by fastavro with every named type written out in place."""
    return cast("dict[str, Any]", expand_schema(parse_schema(schema, _write_hint=False, _force=True)))


def schema_fingerprint(schema: dict[str, Any]) -> str:
    """SHA-256 of the Parsing Canonical Form: equal for schemas that write the same bytes."""
    return str(fingerprint(to_parsing_canonical_form(schema), "SHA-256"))


@dataclass(frozen=True)
class RegisteredSchema:
    id: int
    name: str
    fingerprint: str
    schema: dict[str, Any]


class SchemaStore(Protocol):
    def current(self, name: str) -> dict[str, Any]:
        """The current version of schema ``name`` (what is written, and what data is read into)."""
        ...

    def writer_id(self, topic: str, name: str) -> int:
        """Id to write the current schema ``name`` under on ``topic``."""
        ...

    def by_id(self, schema_id: int) -> dict[str, Any]:
        """The (unparsed) writer schema of an id; raises UnknownSchemaIdError."""
        ...


class LocalSchemaStore:
    """The ids committed in ``registry.json``; the schema files of ``avro_dir`` are the current versions."""

    def __init__(self, path: Path = REGISTRY_FILE, avro_dir: Path = AVRO_DIR) -> None:
        self.path = path
        self.avro_dir = avro_dir
        data = json.loads(path.read_text()) if path.exists() else {"schemas": []}
        self.versions = [RegisteredSchema(**entry) for entry in data["schemas"]]
        self._by_id = {v.id: v for v in self.versions}

    def history(self, name: str) -> list[RegisteredSchema]:
        return [v for v in self.versions if v.name == name]

    def latest(self, name: str) -> RegisteredSchema | None:
        history = self.history(name)
        return history[-1] if history else None

    def current(self, name: str) -> dict[str, Any]:
        return load_schema_file(name, self.avro_dir)

    def writer_id(self, topic: str, name: str) -> int:
        latest = self.latest(name)
        current = self.current(name)
        if latest is None or latest.fingerprint != schema_fingerprint(current):
            raise SchemaError(f"schema {name!r} changed since it was registered: run `scorecast schemas register`")
        return latest.id

    def by_id(self, schema_id: int) -> dict[str, Any]:
        if schema_id not in self._by_id:
            raise UnknownSchemaIdError(schema_id)
        return self._by_id[schema_id].schema

    def append(self, name: str, schema: dict[str, Any]) -> RegisteredSchema:
        """Register ``schema`` as the next version of ``name`` (no check here: see schemas.compat)."""
        parse_schema(schema)  # refuse what is not valid Avro
        entry = RegisteredSchema(max(self._by_id, default=0) + 1, name, schema_fingerprint(schema), schema)
        self.versions.append(entry)
        self._by_id[entry.id] = entry
        payload = {"schemas": [vars(v) for v in self.versions]}
        self.path.write_text(json.dumps(payload, indent=1) + "\n")
        return entry


class RegistrySchemaStore:
    """A Confluent Schema Registry (or a compatible one) through confluent-kafka's client; answers are cached."""

    def __init__(self, url: str, avro_dir: Path = AVRO_DIR) -> None:
        # Its import pulls in authlib, which forces its own deprecation warnings on ("always"): record them
        # instead of printing two lines to every user of a registry.
        with warnings.catch_warnings(record=True):
            from confluent_kafka.schema_registry import SchemaRegistryClient

        self.avro_dir = avro_dir
        self.url = url
        # Bounded: a registry that is down is reported within seconds instead of after the client's retries.
        self.client = SchemaRegistryClient(
            {"url": url, "timeout": 5, "max.retries": 1, "retries.wait.ms": 200, "retries.max.wait.ms": 1000}
        )
        self._ids: dict[tuple[str, str], int] = {}
        self._schemas: dict[int, dict[str, Any]] = {}

    def current(self, name: str) -> dict[str, Any]:
        return load_schema_file(name, self.avro_dir)

    def writer_id(self, topic: str, name: str) -> int:
        from confluent_kafka.schema_registry import Schema

        key = (topic, name)
        if key not in self._ids:
            text = json.dumps(self.current(name))
            # Registering an identical schema again returns its existing id; the registry enforces its
            # compatibility level on a changed one.
            with self._reachable():
                self._ids[key] = self.client.register_schema(subject(topic), Schema(text, "AVRO"))
        return self._ids[key]

    def by_id(self, schema_id: int) -> dict[str, Any]:
        if schema_id not in self._schemas:
            from confluent_kafka.schema_registry.error import SchemaRegistryError

            try:
                with self._reachable():
                    registered = self.client.get_schema(schema_id)
            except SchemaRegistryError as error:
                if error.http_status_code == 404:
                    raise UnknownSchemaIdError(schema_id) from error
                raise SchemaError(f"schema registry: {error}") from error
            self._schemas[schema_id] = json.loads(str(registered.schema_str))
        return self._schemas[schema_id]

    @contextmanager
    def _reachable(self) -> Iterator[None]:
        """A registry that cannot be reached is ServiceUnavailableError, not an httpx traceback."""
        import httpx

        try:
            yield
        except httpx.TransportError as error:
            detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ServiceUnavailableError(
                f"schema registry at {self.url}", "SCORECAST_SCHEMA_REGISTRY_URL", detail
            ) from None


def open_store(settings: Settings) -> SchemaStore:
    """The registry named by the settings, else the ids committed in the repository."""
    if settings.schema_registry_url:
        return RegistrySchemaStore(settings.schema_registry_url)
    return LocalSchemaStore()
