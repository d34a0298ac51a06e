"""Where schema ids come from: the ids committed in this repository, or a Confluent Schema Registry by URL.

The local store is ``schemas/avro/registry.json``, append-only: every version of every schema with a stable
id, so bytes written with an old id stay readable after a schema change. ``scorecast schemas register``
appends a version after checking compatibility; ``scorecast schemas check`` fails while a schema file differs
from its latest registered version. With ``SCORECAST_SCHEMA_REGISTRY_URL`` set, ids are those of the registry
(subjects follow the TopicNameStrategy, ``<topic>-value``); producers and consumers must use the same kind.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

from fastavro.schema import expand_schema, fingerprint, parse_schema, to_parsing_canonical_form

from schemas.errors import SchemaError, UnknownSchemaIdError
from schemas.features import AVRO_DIR
from scorecast.errors import ConfigError, RetryableError
from scorecast.process import StopRequestedError

if TYPE_CHECKING:
    from schemas.registry_client import RegistryClient
    from scorecast.settings import Settings

log = logging.getLogger(__name__)
SubjectStrategy = Literal["TopicNameStrategy", "RecordNameStrategy", "TopicRecordNameStrategy"]
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


def record_name(schema: dict[str, Any]) -> str:
    """The full name of a record schema (namespace.name), as RecordNameStrategy names its subject."""
    name = str(schema["name"])
    namespace = schema.get("namespace")
    return f"{namespace}.{name}" if namespace and "." not in name else name


def subject(topic: str, schema: dict[str, Any], strategy: SubjectStrategy = "TopicNameStrategy") -> str:
    """The subject a topic's values of ``schema`` are registered under, by Confluent's naming strategies."""
    if strategy == "TopicNameStrategy":
        return f"{topic}-value"
    if strategy == "RecordNameStrategy":
        return record_name(schema)
    return f"{topic}-{record_name(schema)}"


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
            raise UnregisteredSchemaError(
                f"schema {name!r} changed since it was registered: run `scorecast schemas register`"
            )
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
    """A Confluent-compatible Schema Registry; ids and schemas it answered are cached for the process.

    Only ``writer_id`` may register, and only when ``auto_register`` is on: a producer registers its current
    schema under its own topic's subject. Decoding needs ``by_id`` alone, so a consumer never creates a
    subject version; its reader schema is the local current file. While the registry is unreachable, a
    lookup by id is retried for up to ``outage_s`` (a running worker meeting a new writer id), then raised;
    ``stop`` (the process's, scorecast.process.stop_on_signals) cuts that wait short with StopRequestedError.
    """

    def __init__(
        self,
        client: RegistryClient,
        *,
        strategy: SubjectStrategy = "TopicNameStrategy",
        auto_register: bool = True,
        outage_s: float = 0.0,
        avro_dir: Path = AVRO_DIR,
        stop: threading.Event | None = None,
    ) -> None:
        self.client = client
        self.url = client.url
        self.strategy = strategy
        self.auto_register = auto_register
        self.outage_s = outage_s
        self.avro_dir = avro_dir
        self._stop = stop or threading.Event()
        self._ids: dict[tuple[str, str], int] = {}
        self._schemas: dict[int, dict[str, Any]] = {}

    def current(self, name: str) -> dict[str, Any]:
        return load_schema_file(name, self.avro_dir)

    def subject(self, topic: str, name: str) -> str:
        return subject(topic, self.current(name), self.strategy)

    def text(self, name: str) -> str:
        """The current schema as the JSON text sent to the registry."""
        return json.dumps(self.current(name))

    def writer_id(self, topic: str, name: str) -> int:
        key = (topic, name)
        if key not in self._ids:
            subject_name = self.subject(topic, name)
            text = self.text(name)
            if self.auto_register:
                # An identical schema gets its existing id back; a changed one meets the subject's
                # compatibility level.
                self._ids[key] = self.client.register(subject_name, text)
            else:
                found = self.client.lookup(subject_name, text)
                if found is None:
                    raise UnregisteredSchemaError(
                        f"schema {name!r} is not registered under subject {subject_name} at {self.url}: run "
                        "`scorecast schemas register`, or set SCORECAST_SCHEMA_REGISTRY_AUTO_REGISTER=true"
                    )
                self._ids[key] = found
        return self._ids[key]

    def by_id(self, schema_id: int) -> dict[str, Any]:
        if schema_id not in self._schemas:
            self._schemas[schema_id] = json.loads(self._fetch(schema_id))
        return self._schemas[schema_id]

    def _fetch(self, schema_id: int) -> str:
        deadline = time.monotonic() + self.outage_s
        backoff = 0.2
        while True:
            try:
                text = self.client.schema(schema_id)
            except RetryableError as error:
                if time.monotonic() + backoff > deadline:
                    raise
                log.warning("schema id %d: %s; retrying in %.1fs", schema_id, error, backoff)
                if self._stop.wait(backoff):  # a stop ends the wait: the batch is read again after the restart
                    raise StopRequestedError(f"stopped while waiting for schema id {schema_id}: {error}") from error
                backoff = min(backoff * 2, 5.0)
                continue
            if backoff > 0.2:
                log.info("schema registry at %s answers again", self.url)
            return text

    def close(self) -> None:
        self.client.close()


class UnregisteredSchemaError(SchemaError, ConfigError):
    """Auto-registration is off and the producer's schema is not a version of its subject."""


def open_store(settings: Settings, stop: threading.Event | None = None) -> SchemaStore:
    """The registry named by the settings (reached once here, so a process fails at start with one line when
    it cannot be), else the ids committed in the repository. ``stop`` ends a wait for an unreachable registry."""
    if not settings.schema_registry_url:
        return LocalSchemaStore()
    from schemas.registry_client import RegistryClient  # httpx only for processes that use a registry

    client = RegistryClient.from_settings(settings)
    client.level()  # the global compatibility level: any answer proves the registry and the credentials
    return RegistrySchemaStore(
        client,
        strategy=settings.schema_registry_subject_strategy,
        auto_register=settings.schema_registry_auto_register,
        outage_s=settings.schema_registry_outage_s,
        stop=stop,
    )
