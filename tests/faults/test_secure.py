"""A local cluster with TLS and authentication on both services, and the whole path over it.

Kafka speaks SASL_SSL with SCRAM-SHA-512 (the user created when the storage is formatted) and requires a client
certificate; Cassandra encrypts client connections, requires a client certificate and runs
PasswordAuthenticator (`infra up` creates the role as the default superuser). Certificates come from a CA this
test makes. Events are produced, scored by a worker and read back through the lookup API's store on acsylla,
every client configured by the same settings. Then the wrong password, a missing client certificate or an
untrusted CA is refused, in one line that names the settings to check and shows no secret.

It starts its own JVMs (ports 39092/39093, 39042/37000/37199), so it lives in the fault suite.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pydantic import SecretStr
from starlette.testclient import TestClient

from infra.external import probe_external
from infra.init import initialise
from infra.local import LocalCluster
from lookup_api.acsylla_connection import AcsyllaConnection
from lookup_api.app import create_app
from lookup_api.config import ApiSettings
from scorecast.app.produce_cli import produce_synthetic
from scorecast.io.cassandra import cassandra_session
from scorecast.settings import Settings
from scorers.registry import Registry
from scorers.training import ExampleModel, register_examples
from scorers.worker import WorkerConfig, scorer_worker
from tests.certificates import TestAuthority

ROOT = Path(__file__).resolve().parents[2]
SECURE_PORTS: dict[str, object] = {
    "kafka_bootstrap": "127.0.0.1:39092",
    "kafka_controller_port": 39093,
    "cassandra_port": 39042,
    "cassandra_storage_port": 37000,
    "cassandra_jmx_port": 37199,
}
# Values no output may show.
SECRETS = {
    "kafka_password": "kafka-pw-Q7x",
    "cassandra_password": "cassandra-pw-R8y",
    "kafka_key": "kafka-key-pw-S9z",
    "cassandra_key": "cassandra-key-pw-T0w",
}
EVENTS = 2_000


@dataclass(frozen=True)
class SecureCluster:
    settings: Settings  # the clients' settings (TLS, SCRAM, client certificates, Cassandra role)
    authority: TestAuthority


@pytest.fixture(scope="module")
def secure() -> Iterator[SecureCluster]:
    home = ROOT / ".scorecast" / "secure"
    authority = TestAuthority(home / "tls")
    server = authority.issue("server", hosts=("127.0.0.1", "localhost"))
    kafka_client = authority.issue("kafka-client", key_password=SECRETS["kafka_key"])
    cassandra_client = authority.issue("cassandra-client", key_password=SECRETS["cassandra_key"])
    settings = Settings(
        infra_backend="local",
        infra_dir=home,
        **SECURE_PORTS,  # type: ignore[arg-type]
        cassandra_hosts=["127.0.0.1"],
        kafka_heap_mb=384,
        cassandra_heap_mb=768,
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_username="scorer",
        kafka_password=SecretStr(SECRETS["kafka_password"]),
        kafka_ssl_ca_file=authority.ca_file,
        kafka_ssl_cert_file=kafka_client.cert,
        kafka_ssl_key_file=kafka_client.key,
        kafka_ssl_key_password=SecretStr(SECRETS["kafka_key"]),
        cassandra_ssl=True,
        cassandra_ssl_ca_file=authority.ca_file,
        cassandra_ssl_cert_file=cassandra_client.cert,
        cassandra_ssl_key_file=cassandra_client.key,
        cassandra_ssl_key_password=SecretStr(SECRETS["cassandra_key"]),
        cassandra_username="scorer",
        cassandra_password=SecretStr(SECRETS["cassandra_password"]),
        infra_tls_cert_file=server.cert,
        infra_tls_key_file=server.key,
    )
    cluster = LocalCluster(settings, jars_dir=ROOT / ".scorecast" / "jars")
    cluster.down(purge=True)  # a new CA each run: what an earlier run formatted and configured must go
    cluster.up()
    try:
        yield SecureCluster(settings, authority)
    finally:
        cluster.down(purge=True)


def test_produce_score_and_lookup_over_tls_with_authentication(
    secure: SecureCluster, example_models: list[ExampleModel], tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    settings = secure.settings.model_copy(
        update={
            "keyspace": f"t_{tag}",
            "topic_prefix": f"t{tag}.",
            "topic_partitions": 2,
            "model_store": str(tmp_path / "models"),
            "onnx_device": "cpu",
        }
    )
    initialise(settings, ["transactions"])
    with Registry.open(settings) as registry:
        register_examples(registry, example_models)
    produced = produce_synthetic(settings, "transactions", count=EVENTS, seed=5, labels=False)
    assert produced.sent == EVENTS

    with scorer_worker(settings, WorkerConfig(stream="transactions", model="fraud")) as worker:
        stats = worker.run(threading.Event(), idle_exit_s=3.0)
    assert stats.scored == EVENTS
    assert stats.dead_lettered == 0

    with cassandra_session(settings) as session:
        rows = session.execute("SELECT entity_id, event_id, score FROM predictions")
        stored = {(r.entity_id, r.event_id): r.score for r in rows}
    assert len(stored) == EVENTS

    api = ApiSettings(auth_enabled=False, request_timeout_s=5.0)
    assert api.cassandra_client == "acsylla"
    asked = sorted({entity for entity, _ in stored})[:20]
    with TestClient(create_app(settings, api), raise_server_exceptions=False) as client:
        assert client.get("/readyz").status_code == 200
        answers = {entity: client.get(f"/v1/predictions/fraud/{entity}") for entity in asked}
    assert {entity: answer.status_code for entity, answer in answers.items()} == dict.fromkeys(asked, 200)
    for entity, answer in answers.items():  # an event of this entity, with the score the worker stored for it
        body = answer.json()
        assert body["entity_id"] == entity
        assert body["score"] == pytest.approx(stored[entity, body["event_id"]]), body


def test_the_lookup_apis_client_refuses_an_untrusted_cluster(secure: SecureCluster, tmp_path: Path) -> None:
    other = TestAuthority(tmp_path / "other", name="another CA")
    untrusted = secure.settings.model_copy(update={"cassandra_ssl_ca_file": other.ca_file})
    with pytest.raises(Exception, match=r"(?i)ssl|certificate|verify|no hosts"):
        asyncio.run(AcsyllaConnection.open(untrusted, ApiSettings(request_timeout_s=3.0)))


@dataclass(frozen=True)
class Case:
    over: dict[str, str] = field(default_factory=dict)  # variables over the working settings ("" unsets)
    unreachable: int = 1  # how many of the two services do not answer
    says: str = ""  # the probe lines must contain this


def _unset(*names: str) -> dict[str, str]:
    return {f"SCORECAST_{name}": "" for name in names}


CASES = {
    "all right": Case(unreachable=0),
    "wrong Kafka password": Case(
        {"SCORECAST_KAFKA_PASSWORD": "not-it"}, says="SCORECAST_KAFKA_USERNAME and SCORECAST_KAFKA_PASSWORD"
    ),
    "wrong Cassandra password": Case(
        {"SCORECAST_CASSANDRA_PASSWORD": "not-it"}, says="SCORECAST_CASSANDRA_USERNAME and SCORECAST_CASSANDRA_PASSWORD"
    ),
    "Kafka CA not trusted": Case({"SCORECAST_KAFKA_SSL_CA_FILE": "OTHER_CA"}, says="SCORECAST_KAFKA_SSL_CA_FILE"),
    "Cassandra CA not trusted": Case({"SCORECAST_CASSANDRA_SSL_CA_FILE": "OTHER_CA"}, says="CERTIFICATE_VERIFY_FAILED"),
    "no Kafka client certificate": Case(_unset("KAFKA_SSL_CERT_FILE", "KAFKA_SSL_KEY_FILE", "KAFKA_SSL_KEY_PASSWORD")),
    "no Cassandra client certificate": Case(
        _unset("CASSANDRA_SSL_CERT_FILE", "CASSANDRA_SSL_KEY_FILE", "CASSANDRA_SSL_KEY_PASSWORD")
    ),
    "Cassandra without TLS": Case(
        {
            "SCORECAST_CASSANDRA_SSL": "false",
            **_unset("CASSANDRA_SSL_CA_FILE", "CASSANDRA_SSL_CERT_FILE", "CASSANDRA_SSL_KEY_FILE"),
            **_unset("CASSANDRA_SSL_KEY_PASSWORD"),
        }
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_infra_status_probes_the_secure_cluster_as_an_external_one(
    case: Case, secure: SecureCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """What `infra status` prints with SCORECAST_INFRA_BACKEND=external (its exit code: tests/integration/infra),
    with the settings read from the environment as a process reads them."""
    other = TestAuthority(tmp_path / "other", name="another CA")
    for name in [name for name in os.environ if name.startswith("SCORECAST_")]:
        monkeypatch.delenv(name)
    variables = {**secure.settings.environment(), "SCORECAST_INFRA_BACKEND": "external", **case.over}
    for name, value in variables.items():
        if value != "":
            monkeypatch.setenv(name, str(other.ca_file) if value == "OTHER_CA" else value)
    monkeypatch.chdir(tmp_path)  # no .env file
    started = time.monotonic()
    with caplog.at_level(logging.DEBUG):
        probes = probe_external(Settings())
    elapsed = time.monotonic() - started
    lines = [probe.line() for probe in probes]
    shown = "\n".join(lines)
    assert [probe.reachable for probe in probes].count(False) == case.unreachable, shown
    assert elapsed < 10.0, f"{elapsed:.1f}s: {shown}"
    assert case.says in shown, shown
    assert not [secret for secret in SECRETS.values() if secret in shown + caplog.text], shown
