"""Every port a local cluster binds comes from settings and is checked before anything starts (defect 10)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from infra.errors import InfraError
from infra.local import LocalCluster
from infra.services import Cassandra, Kafka, ServiceLayout
from scorecast.settings import Settings


@contextmanager
def listening() -> Iterator[int]:
    """A port something else already listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def free_ports(n: int) -> list[int]:
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(n)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


def cluster_settings(home: Path, **ports: int) -> Settings:
    kafka, controller, cql, storage, jmx = free_ports(5)
    chosen = {
        "kafka_port": kafka,
        "kafka_controller_port": controller,
        "cassandra_port": cql,
        "cassandra_storage_port": storage,
        "cassandra_jmx_port": jmx,
        **ports,
    }
    return Settings(
        infra_dir=home,
        kafka_bootstrap=f"127.0.0.1:{chosen.pop('kafka_port')}",
        **chosen,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("setting", "field"),
    [
        ("SCORECAST_KAFKA_BOOTSTRAP", "kafka_port"),
        ("SCORECAST_KAFKA_CONTROLLER_PORT", "kafka_controller_port"),
        ("SCORECAST_CASSANDRA_PORT", "cassandra_port"),
        ("SCORECAST_CASSANDRA_STORAGE_PORT", "cassandra_storage_port"),
        ("SCORECAST_CASSANDRA_JMX_PORT", "cassandra_jmx_port"),
    ],
)
def test_a_port_in_use_fails_in_one_line_before_anything_is_spawned(tmp_path: Path, setting: str, field: str) -> None:
    with listening() as taken:
        cluster = LocalCluster(cluster_settings(tmp_path, **{field: taken}))
        try:
            with pytest.raises(InfraError) as raised:
                cluster.up()
        finally:
            cluster.down()  # only if the check failed to stop it: never part of a passing run
        message = str(raised.value)
    assert "\n" not in message
    assert f"port {taken} ({setting}) is already in use" in message
    assert "nothing was started" in message
    assert not (tmp_path / "run").exists(), "a service was spawned before the clash was found"
    assert not (tmp_path / "logs").exists()


def test_two_settings_sharing_a_port_are_refused(tmp_path: Path) -> None:
    settings = cluster_settings(tmp_path)
    clash = settings.model_copy(update={"cassandra_jmx_port": settings.cassandra_storage_port})
    with pytest.raises(InfraError, match=r"set twice \(SCORECAST_CASSANDRA_STORAGE_PORT and SCORECAST_CASSANDRA_JMX"):
        LocalCluster(clash).up()
    assert not (tmp_path / "run").exists()


def test_every_port_of_the_generated_config_comes_from_settings(tmp_path: Path) -> None:
    settings = cluster_settings(tmp_path)
    cluster = LocalCluster(settings)
    bound = {port for service in cluster.services for port in service.ports.values()}
    assert bound == {
        int(settings.kafka_bootstrap.rsplit(":", 1)[1]),
        settings.kafka_controller_port,
        settings.cassandra_port,
        settings.cassandra_storage_port,
        settings.cassandra_jmx_port,
    }
    kafka, cassandra = cluster.services
    assert isinstance(kafka, Kafka)
    assert isinstance(cassandra, Cassandra)
    server_properties = kafka.write_config(cluster.layout(kafka)).read_text()
    controller = f"CONTROLLER://127.0.0.1:{settings.kafka_controller_port}"
    assert f"listeners=PLAINTEXT://{settings.kafka_bootstrap},{controller}" in server_properties
    cassandra_yaml = cassandra.write_config(cluster.layout(cassandra)).read_text()
    assert f"storage_port: {settings.cassandra_storage_port}" in cassandra_yaml
    assert f"native_transport_port: {settings.cassandra_port}" in cassandra_yaml
    jars = tmp_path / "jars"
    jars.mkdir()
    (jars / "jamm-0.4.0.jar").touch()
    command = cassandra.command(cluster.layout(cassandra), "java", jars)
    assert f"-Dcassandra.jmx.local.port={settings.cassandra_jmx_port}" in command


def test_cassandra_is_configured_to_keep_what_it_acknowledged(tmp_path: Path) -> None:
    """Defect 1's configuration; tests/faults/test_durability.py proves it with kill -9."""
    cassandra = LocalCluster(cluster_settings(tmp_path)).services[1]
    assert isinstance(cassandra, Cassandra)
    layout = ServiceLayout(tmp_path, cassandra.name)
    cassandra_yaml = cassandra.write_config(layout).read_text()
    assert "commitlog_sync: batch" in cassandra_yaml
    jars = tmp_path / "jars"
    jars.mkdir()
    (jars / "jamm-0.4.0.jar").touch()
    assert not [flag for flag in cassandra.command(layout, "java", jars) if "unsafesystem" in flag]
