"""Fixtures of the lookup API tests: a keyspace per module (migrations only, the API needs no topics),
rows written directly with CQL, and an in-process app with its lifespan running."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cassandra.cluster import Session
from cassandra.query import UNSET_VALUE
from opentelemetry.trace import TracerProvider
from starlette.testclient import TestClient

from infra.migrations import migrate
from lookup_api.app import create_app
from lookup_api.config import ApiSettings
from lookup_api.keys import KeyAdmin
from scorecast.cassandra import connect
from scorecast.settings import Settings

FAST = {"alias_ttl_ms": 200, "key_ttl_ms": 200, "request_timeout_s": 5.0}
SCORECAST = str(Path(sys.executable).with_name("scorecast"))


@pytest.fixture(scope="module")
def api_keyspace(services: Settings) -> Iterator[Settings]:
    settings = services.model_copy(update={"keyspace": f"t_api_{uuid.uuid4().hex[:10]}"})
    session = connect(settings)
    try:
        migrate(session, settings)
        yield settings
        session.execute(f"DROP KEYSPACE IF EXISTS {settings.keyspace}", timeout=60)
    finally:
        session.cluster.shutdown()


@pytest.fixture(scope="module")
def session(api_keyspace: Settings) -> Iterator[Session]:
    session = connect(api_keyspace, api_keyspace.keyspace)
    yield session
    session.cluster.shutdown()


class Rows:
    """Registry and prediction rows, written the way the registry and the scorers write them."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._version = session.prepare(
            "INSERT INTO model_versions (model, version, created_at, description) VALUES (?, ?, ?, ?)"
        )
        self._alias = session.prepare(
            "INSERT INTO model_aliases (model, alias, version, updated_at) VALUES (?, ?, ?, ?)"
        )
        self._unalias = session.prepare("DELETE FROM model_aliases WHERE model = ? AND alias = ?")
        self._prediction = session.prepare(
            "INSERT INTO predictions (model, version, entity_id, event_time, event_id, score, outputs, scored_at, "
            "trace_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )

    def model(self, model: str, versions: list[int], aliases: dict[str, list[int]]) -> None:
        for version in versions:
            self.session.execute(self._version, (model, version, datetime.now(UTC), f"v{version}"))
        for alias, alias_versions in aliases.items():
            self.flip(model, alias, *alias_versions)

    def flip(self, model: str, alias: str, *versions: int) -> None:
        """Point ``alias`` at ``versions`` (the driver's client timestamps order the delete before the inserts)."""
        self.session.execute(self._unalias, (model, alias))
        for version in versions:
            self.session.execute(self._alias, (model, alias, version, datetime.now(UTC)))

    def prediction(
        self,
        model: str,
        version: int,
        entity_id: str,
        score: float,
        age: timedelta = timedelta(seconds=1),
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        scored_at = datetime.now(UTC).replace(microsecond=0) - age
        event_time = scored_at - timedelta(milliseconds=20)
        event_id = f"ev-{uuid.uuid4().hex[:8]}"
        outputs = {"p_fraud": score, "p_ok": 1 - score}
        self.session.execute(
            self._prediction,
            (model, version, entity_id, event_time, event_id, score, outputs, scored_at, trace_id or UNSET_VALUE),
        )
        return {"event_id": event_id, "event_time": event_time, "scored_at": scored_at, "outputs": outputs}


@pytest.fixture(scope="module")
def rows(session: Session) -> Rows:
    return Rows(session)


@pytest.fixture(scope="module")
def keys(session: Session) -> KeyAdmin:
    return KeyAdmin(session)


@contextmanager
def serve(settings: Settings, tracer_provider: TracerProvider | None = None, **api: Any) -> Iterator[TestClient]:
    """The app in process, lifespan included (so the Cassandra session is opened and closed)."""
    app = create_app(settings, ApiSettings(**{**FAST, **api}), tracer_provider=tracer_provider)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextmanager
def running_api(
    settings: Settings, http_server: str = "granian", workers: int = 1, env: dict[str, str] | None = None
) -> Iterator[str]:
    """`scorecast api` on a free loopback port (auth on, ``env`` added) until ready; its base URL. Stopped with
    SIGTERM, which must end it cleanly, and its output must hold no API key."""
    port = _free_port()
    environment = {
        **os.environ,
        "SCORECAST_KEYSPACE": settings.keyspace,
        "SCORECAST_API_AUTH_ENABLED": "true",
        "SCORECAST_API_HTTP_SERVER": http_server,
        **(env or {}),
    }
    process = subprocess.Popen(
        [SCORECAST, "api", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server never became ready"
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode()
        assert process.returncode in (0, -signal.SIGTERM), output  # a graceful stop (uvicorn re-raises SIGTERM)
        assert "sck_" not in output  # keys never reach the log
