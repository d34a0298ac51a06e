"""Fixtures of the streams integration tests: a registry with models, Avro producers, a loopback webhook."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer

from schemas.codec import AvroCodec
from schemas.registry import open_store, schema_name
from scorecast.settings import Settings
from scorers.profile import ReferenceProfile
from scorers.registry import Registry
from tests.unit.scorers.onnx_builders import logistic

STREAM = "transactions"
MODEL = "fraud"


@pytest.fixture
def model_settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"model_store": str(tmp_path / "models"), "onnx_device": "cpu"})


def register(settings: Settings, profile: ReferenceProfile | None, versions: int = 1) -> list[int]:
    """Register ``versions`` (tiny valid ONNX models) with ``profile``; the first is champion, the rest challengers."""
    with Registry.open(settings) as registry:
        numbers = [
            registry.register(MODEL, logistic(), reference=profile, stream="transactions").version
            for _ in range(versions)
        ]
        registry.promote(MODEL, numbers[0])
        for challenger in numbers[1:]:
            registry.set_alias(MODEL, "challenger", challenger)
    return numbers


def produce(settings: Settings, kind: str, records: list[dict[str, Any]], key: str = "entity_id") -> None:
    topic = settings.topic(STREAM, kind)
    codec = AvroCodec(open_store(settings), topic, schema_name(STREAM, kind))
    producer = Producer({**settings.kafka_config(), "linger.ms": 20})
    for record in records:
        while True:
            try:
                producer.produce(topic, codec.encode(record, check=False), str(record.get(key) or "").encode())
                break
            except BufferError:
                producer.poll(0.05)
    assert producer.flush(30) == 0


def read_topic(settings: Settings, kind: str, idle_s: float = 3.0) -> list[dict[str, Any]]:
    """Every record on a topic of the test's stream, decoded."""
    topic = settings.topic(STREAM, kind)
    codec = AvroCodec(open_store(settings), topic, schema_name(STREAM, kind))
    consumer = Consumer(
        {
            **settings.kafka_config(),
            "group.id": f"reader-{time.time_ns()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    found: list[dict[str, Any]] = []
    last = time.monotonic()
    try:
        while time.monotonic() - last < idle_s:
            for message in consumer.consume(1_000, 0.5):
                if message.error() is None:
                    found.append(codec.decode(message.value() or b""))
                    last = time.monotonic()
    finally:
        consumer.close()
    return found


@dataclass
class Webhook:
    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    fail_first: int = 0  # answer 503 to this many requests first (the sender must retry)
    requests: int = 0

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.received


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    """A tiny HTTP receiver on loopback, in a thread."""
    hook = Webhook("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            hook.requests += 1
            if hook.requests <= hook.fail_first:
                self.send_response(503)
            else:
                hook.received.append(json.loads(body))
                self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:  # keep the test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/alerts"
    yield hook
    server.shutdown()
    server.server_close()
