"""The registry store's rules without a registry: subject names, who registers, waiting out an outage."""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path
from typing import Any, cast

import pytest
from fastavro import parse_schema, schemaless_writer
from pydantic import SecretStr

from schemas.codec import AvroCodec, frame
from schemas.registry import RegistrySchemaStore, UnregisteredSchemaError, load_schema_file, subject
from schemas.registry_client import RegistryClient
from schemas.registry_sync import covers
from scorecast.errors import ConfigError, ServiceUnavailableError
from scorecast.process import StopRequestedError
from scorecast.settings import Settings


class _Client:
    """Answers as a registry would, counting calls; ``down`` calls fail as unreachable first."""

    url = "http://registry.test"

    def __init__(self, down: int = 0) -> None:
        self.down = down
        self.calls: list[str] = []
        self.texts: dict[int, str] = {7: json.dumps(load_schema_file("labels"))}

    def register(self, subject: str, schema: str) -> int:
        self.calls.append(f"register {subject}")
        return 7

    def lookup(self, subject: str, schema: str) -> int | None:
        self.calls.append(f"lookup {subject}")
        return None

    def schema(self, schema_id: int) -> str:
        self.calls.append(f"schema {schema_id}")
        if self.down:
            self.down -= 1
            raise ServiceUnavailableError(f"schema registry at {self.url}", "SCORECAST_SCHEMA_REGISTRY_URL", "refused")
        return self.texts[schema_id]


def _store(client: _Client, **options: Any) -> RegistrySchemaStore:
    return RegistrySchemaStore(cast("RegistryClient", client), **options)


def test_subject_names_follow_confluents_strategies() -> None:
    labels = load_schema_file("labels")
    assert subject("p.s.labels", labels) == "p.s.labels-value"
    assert subject("p.s.labels", labels, "RecordNameStrategy") == "scorecast.labels.Label"
    assert subject("p.s.labels", labels, "TopicRecordNameStrategy") == "p.s.labels-scorecast.labels.Label"


def test_decoding_never_registers_and_encoding_registers_under_its_own_subject() -> None:
    client = _Client()
    codec = AvroCodec(_store(client), "s.labels", "labels")
    body = io.BytesIO()
    schemaless_writer(body, parse_schema(load_schema_file("labels")), {"event_id": "e1", "label": 1, "label_time": 5})
    assert codec.decode(frame(7, body.getvalue()))["event_id"] == "e1"
    assert client.calls == ["schema 7"]
    codec.encode({"event_id": "e2", "entity_id": None, "label": 0, "label_time": 9})
    assert client.calls == ["schema 7", "register s.labels-value"]


def test_without_auto_register_a_producer_only_looks_up_and_says_what_to_run() -> None:
    client = _Client()
    codec = AvroCodec(_store(client, auto_register=False), "s.labels", "labels")
    with pytest.raises(UnregisteredSchemaError, match="scorecast schemas register") as raised:
        codec.encode({"event_id": "e2", "entity_id": None, "label": 0, "label_time": 9})
    assert isinstance(raised.value, ConfigError)  # a worker stops on it instead of retrying for ever
    assert client.calls == ["lookup s.labels-value"]


def test_a_lookup_by_id_waits_out_a_short_outage_and_gives_up_after_outage_s() -> None:
    client = _Client(down=2)
    assert _store(client, outage_s=10.0).by_id(7)["name"] == "Label"
    assert client.calls == ["schema 7"] * 3
    with pytest.raises(ServiceUnavailableError):
        _store(_Client(down=100), outage_s=0.5).by_id(7)


def test_levels_cover_weaker_modes_only() -> None:
    assert covers("FULL_TRANSITIVE", "full")
    assert covers("FULL", "backward")
    assert not covers("BACKWARD", "full")
    assert not covers("NONE", "forward")


def test_client_settings_refuse_two_kinds_of_credentials_and_a_missing_ca(tmp_path: Path) -> None:
    url = "https://registry.test"
    with pytest.raises(ConfigError, match="not both"):
        RegistryClient.from_settings(
            Settings(schema_registry_url=url, schema_registry_username="u", schema_registry_token=SecretStr("t"))
        )
    with pytest.raises(ConfigError, match="CA_FILE"):
        RegistryClient.from_settings(Settings(schema_registry_url=url, schema_registry_ca_file=tmp_path / "no.pem"))


def test_a_stop_during_an_outage_ends_the_lookup_at_once_instead_of_waiting_out_outage_s() -> None:
    stop = threading.Event()
    timer = threading.Timer(0.3, stop.set)
    timer.start()
    started = time.monotonic()
    try:
        with pytest.raises(StopRequestedError):
            _store(_Client(down=10_000), outage_s=60.0, stop=stop).by_id(7)
    finally:
        timer.cancel()
    assert time.monotonic() - started < 10.0  # the whole outage window is 60 s
