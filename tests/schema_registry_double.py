"""A test double of a Confluent Schema Registry: the REST subset scorecast and confluent-kafka's serializers use.

No real registry can run on this project's machines: Confluent's is not on Maven Central or PyPI, Karapace is
not on PyPI, and Apicurio Registry's server cannot be resolved from Maven Central (3.3.3 lacks
apicurio-registry-schema-util-provider, 3.0.9 its parent pom, 2.6.13 several apicurio-common jars). So this
double stands in, on loopback, with the behaviour the tests rely on:

- subjects and versions (``GET /subjects``, ``GET/POST /subjects/<s>/versions``, ``POST /subjects/<s>``
  lookup), schemas by a global id (``GET /schemas/ids/<id>``; one id per distinct schema, as Confluent's);
- compatibility levels (``GET /config``, ``GET/PUT /config/<s>``) enforced on registration (409), and the
  check endpoint (``POST /compatibility/subjects/<s>/versions/latest?verbose=true``), judged with
  ``schemas.compat`` (transitive levels against every version, others against the latest);
- optional basic auth or bearer token (401 otherwise), optional https; Confluent's error codes.
It counts requests by method and path head, so a test can tell that nobody registered.
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from schemas.compat import Mode, problems
from schemas.registry import schema_fingerprint

_MODES: dict[str, Mode | None] = {"BACKWARD": "backward", "FORWARD": "forward", "FULL": "full", "NONE": None}


@dataclass
class RegistryState:
    level: str = "BACKWARD"  # Confluent's default global level
    schemas: dict[int, str] = field(default_factory=dict)  # id -> schema text
    subjects: dict[str, list[int]] = field(default_factory=dict)  # subject -> ids, version 1 first
    levels: dict[str, str] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)  # "POST /subjects/<s>/versions" style
    lock: threading.Lock = field(default_factory=threading.Lock)

    def id_of(self, text: str) -> int | None:
        wanted = schema_fingerprint(json.loads(text))
        return next((i for i, s in self.schemas.items() if schema_fingerprint(json.loads(s)) == wanted), None)

    def incompatibilities(self, subject: str, text: str) -> list[str]:
        level = self.levels.get(subject, self.level)
        mode = _MODES[level.removesuffix("_TRANSITIVE")]
        versions = self.subjects.get(subject, [])
        if mode is None or not versions:
            return []
        against = versions if level.endswith("_TRANSITIVE") else versions[-1:]
        new = json.loads(text)
        return [p for i in against for p in problems(json.loads(self.schemas[i]), new, mode)]


class _Handler(BaseHTTPRequestHandler):
    state: RegistryState
    credentials: str | None  # the whole Authorization header expected, if any

    def log_message(self, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: Any) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _error(self, status: int, code: int, message: str) -> None:
        self._reply(status, {"error_code": code, "message": message})

    def _route(self, method: str) -> None:
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else {}
        with self.state.lock:
            self.state.requests[f"{method} /{'/'.join(p if i % 2 == 0 else '*' for i, p in enumerate(parts))}"] += 1
        if self.credentials is not None and self.headers.get("Authorization") != self.credentials:
            self._error(401, 40101, "Unauthorized")
            return
        with self.state.lock:
            self._dispatch(method, parts, query, body)

    def _dispatch(self, method: str, parts: list[str], query: dict[str, str], body: dict[str, Any]) -> None:
        state = self.state
        match method, parts:
            case "GET", ["subjects"]:
                self._reply(200, sorted(state.subjects))
            case "GET", ["subjects", subject, "versions"]:
                if subject not in state.subjects:
                    self._error(404, 40401, f"Subject '{subject}' not found.")
                else:
                    self._reply(200, list(range(1, len(state.subjects[subject]) + 1)))
            case "POST", ["subjects", subject, "versions"]:
                self._register(subject, body["schema"])
            case "POST", ["subjects", subject]:
                found = state.id_of(body["schema"])
                if subject not in state.subjects:
                    self._error(404, 40401, f"Subject '{subject}' not found.")
                elif found is None or found not in state.subjects[subject]:
                    self._error(404, 40403, "Schema not found")
                else:
                    version = state.subjects[subject].index(found) + 1
                    self._reply(200, {"subject": subject, "id": found, "version": version, "schema": body["schema"]})
            case "GET", ["schemas", "ids", schema_id]:
                if int(schema_id) not in state.schemas:
                    self._error(404, 40403, "Schema not found")
                else:
                    self._reply(200, {"schema": state.schemas[int(schema_id)]})
            case "GET", ["config"]:
                self._reply(200, {"compatibilityLevel": state.level})
            case "GET", ["config", subject]:
                if subject not in state.levels:
                    self._error(404, 40408, f"Subject '{subject}' does not have subject-level compatibility configured")
                else:
                    self._reply(200, {"compatibilityLevel": state.levels[subject]})
            case "PUT", ["config", subject]:
                state.levels[subject] = body["compatibility"]
                self._reply(200, {"compatibility": body["compatibility"]})
            case "POST", ["compatibility", "subjects", subject, "versions", "latest"]:
                if subject not in state.subjects:
                    self._error(404, 40401, f"Subject '{subject}' not found.")
                else:
                    reasons = state.incompatibilities(subject, body["schema"])
                    verdict: dict[str, Any] = {"is_compatible": not reasons}
                    if query.get("verbose") == "true":
                        verdict["messages"] = reasons
                    self._reply(200, verdict)
            case _:
                self._error(404, 404, f"no route {method} {'/'.join(parts)}")

    def _register(self, subject: str, text: str) -> None:
        state = self.state
        existing = state.id_of(text)
        versions = state.subjects.get(subject, [])
        if existing is not None and existing in versions:
            self._reply(200, {"id": existing})
            return
        if state.incompatibilities(subject, text):
            self._error(409, 409, "Schema being registered is incompatible with an earlier schema")
            return
        schema_id = existing if existing is not None else max(state.schemas, default=0) + 1
        state.schemas[schema_id] = text
        state.subjects.setdefault(subject, []).append(schema_id)
        self._reply(200, {"id": schema_id})

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        self._route("PUT")


@dataclass
class SchemaRegistryDouble:
    url: str
    state: RegistryState

    def versions(self, subject: str) -> int:
        return len(self.state.subjects.get(subject, []))

    def registrations(self) -> int:
        """POSTs to any subject's versions: each one is an attempt to register."""
        return sum(n for key, n in self.state.requests.items() if key.startswith("POST /subjects/*/versions"))


@contextmanager
def schema_registry_double(
    username: str | None = None,
    password: str | None = None,
    token: str | None = None,
    tls: tuple[Path, Path] | None = None,
) -> Iterator[SchemaRegistryDouble]:
    """A double on a free loopback port, for the duration of the block; with credentials it requires them, and
    with ``tls`` (certificate, key) it serves https."""
    credentials = None
    if username is not None:
        credentials = "Basic " + base64.b64encode(f"{username}:{password or ''}".encode()).decode()
    if token is not None:
        credentials = f"Bearer {token}"
    state = RegistryState()
    handler = type("Handler", (_Handler,), {"state": state, "credentials": credentials})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        scheme = "https" if tls is not None else "http"
        yield SchemaRegistryDouble(f"{scheme}://127.0.0.1:{server.server_address[1]}", state)
    finally:
        server.shutdown()
        server.server_close()
