"""Schema ids from a Schema Registry by URL, through confluent-kafka's registry client and real Kafka.

No Confluent Schema Registry runs on this box (it is not published on Maven Central), so a minimal stand-in
serves the two REST endpoints the client uses: POST /subjects/<subject>/versions and GET /schemas/ids/<id>.
What is tested is our side: subjects named <topic>-value, the ids in the bytes, and decoding by those ids.
"""

from __future__ import annotations

import json
import struct
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from schemas.batch import EventBatchDecoder
from schemas.registry import RegistrySchemaStore
from schemas.synthetic import TransactionGenerator
from scorecast import EventProducer
from scorecast.settings import Settings
from tests.integration.producer.reading import read_topic


class _Registry(BaseHTTPRequestHandler):
    schemas: ClassVar[dict[int, str]] = {}
    subjects: ClassVar[dict[str, list[int]]] = {}

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self) -> None:
        parts = self.path.split("?")[0].strip("/").split("/")
        text = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["schema"]
        existing = [i for i, s in self.schemas.items() if s == text]
        schema_id = existing[0] if existing else 100 + len(self.schemas)
        self.schemas[schema_id] = text
        self.subjects.setdefault(parts[1], []).append(schema_id)
        self._reply(200, {"id": schema_id})

    def do_GET(self) -> None:
        schema_id = int(self.path.split("?")[0].rstrip("/").rsplit("/", 1)[-1])
        if schema_id not in self.schemas:
            self._reply(404, {"error_code": 40403, "message": "Schema not found"})
            return
        self._reply(200, {"schema": self.schemas[schema_id]})

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def registry_url() -> Iterator[str]:
    _Registry.schemas.clear()
    _Registry.subjects.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Registry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_ids_come_from_the_registry_under_topic_name_subjects(settings: Settings, registry_url: str) -> None:
    with_registry = settings.model_copy(update={"schema_registry_url": registry_url})
    records = TransactionGenerator(seed=51).generate(20).records
    with EventProducer(with_registry, "transactions") as producer:
        for record in records:
            producer.send(record)
    topic = settings.topic("transactions", "events")
    assert _Registry.subjects == {f"{topic}-value": [100]}

    values = [m.value() or b"" for m in read_topic(settings, topic, 20, timeout_s=30)]
    assert {struct.unpack(">bI", v[:5]) for v in values} == {(0, 100)}
    store = RegistrySchemaStore(registry_url)
    values.append(struct.pack(">bI", 0, 555) + values[0][5:])
    batch = EventBatchDecoder(store, "transactions", topic).decode(values)
    assert sorted(batch.event_ids) == sorted(r["event_id"] for r in records)
    assert [(f.position, f.reason) for f in batch.failures] == [(20, "unknown-schema-id")]
