"""The configuration `scorecast infra up --nodes N` generates: node i on 127.0.0.i, one controller quorum and
one ring, replication for losing one node. tests/faults/test_cluster.py runs such a cluster and kills nodes."""

from __future__ import annotations

import re
import socket
from contextlib import ExitStack
from pathlib import Path

import pytest

from infra.errors import InfraError
from infra.local import LocalCluster, check_ports
from infra.services import Cassandra, Kafka
from scorecast.settings import Settings


def settings(home: Path, **chosen: object) -> Settings:
    ports: dict[str, object] = {
        "kafka_bootstrap": "127.0.0.1:39092",
        "kafka_controller_port": 39093,
        "cassandra_port": 39042,
        "cassandra_storage_port": 37000,
        "cassandra_jmx_port": 37199,
    }
    return Settings(infra_dir=home, **{**ports, **chosen})  # type: ignore[arg-type]


def nodes_of(cluster: LocalCluster) -> tuple[list[Kafka], list[Cassandra]]:
    kafka = [s for s in cluster.services if isinstance(s, Kafka)]
    cassandra = [s for s in cluster.services if isinstance(s, Cassandra)]
    assert len(kafka) + len(cassandra) == len(cluster.services)
    return kafka, cassandra


def properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


def test_three_kafka_brokers_form_one_quorum_with_replication_three_and_two_in_sync(tmp_path: Path) -> None:
    cluster = LocalCluster(settings(tmp_path), nodes=3)
    kafka, _ = nodes_of(cluster)
    configs = [properties(k.write_config(cluster.layout(k)).read_text()) for k in kafka]
    voters = "1@127.0.0.1:39093,2@127.0.0.2:39093,3@127.0.0.3:39093"
    for i, config in enumerate(configs, start=1):
        assert config["node.id"] == str(i)
        assert config["controller.quorum.voters"] == voters
        assert config["listeners"] == f"PLAINTEXT://127.0.0.{i}:39092,CONTROLLER://127.0.0.{i}:39093"
        assert config["advertised.listeners"] == f"PLAINTEXT://127.0.0.{i}:39092"
        assert config["log.dirs"] == str(tmp_path.resolve() / "data" / f"kafka-{i}")
        assert config["default.replication.factor"] == config["offsets.topic.replication.factor"] == "3"
        assert config["min.insync.replicas"] == config["transaction.state.log.min.isr"] == "2"
        assert config["unclean.leader.election.enable"] == "false"
    assert len({k.cluster_id for k in kafka}) == 1, "every broker must be formatted with the same cluster id"
    assert kafka[0].cluster_id is not None
    assert [k.name for k in kafka] == ["kafka-1", "kafka-2", "kafka-3"]
    assert cluster.client_settings()["SCORECAST_KAFKA_BOOTSTRAP"] == ("127.0.0.1:39092,127.0.0.2:39092,127.0.0.3:39092")


def test_three_cassandra_nodes_join_node_one_one_after_another(tmp_path: Path) -> None:
    cluster = LocalCluster(settings(tmp_path), nodes=3)
    _, cassandra = nodes_of(cluster)
    jars = tmp_path / "jars"
    jars.mkdir()
    (jars / "jamm-0.4.0.jar").touch()
    tokens = []
    for i, node in enumerate(cassandra, start=1):
        yaml = node.write_config(cluster.layout(node)).read_text()
        assert "{" not in re.sub(r"#.*", "", yaml), "a placeholder was left unfilled"
        assert f"listen_address: 127.0.0.{i}\n" in yaml
        assert f"rpc_address: 127.0.0.{i}\n" in yaml
        assert 'seeds: "127.0.0.1:37000"' in yaml
        assert f"auto_bootstrap: {'true' if i == 1 else 'false'}" in yaml
        command = node.command(cluster.layout(node), "java", jars)
        assert f"-Dcassandra.jmx.local.port={37199 + i - 1}" in command
        token = next(f for f in command if f.startswith("-Dcassandra.initial_token="))
        assert f"initial_token: {token.split('=')[1]}\n" in yaml
        tokens.append(int(token.split("=")[1]))
    assert len(set(tokens)) == 3
    assert [n.after for n in cassandra] == [(), ("cassandra-1",), ("cassandra-2",)]
    assert cluster.client_settings()["SCORECAST_CASSANDRA_HOSTS"] == "127.0.0.1,127.0.0.2,127.0.0.3"


def test_cluster_heaps_are_small_unless_the_settings_choose_them(tmp_path: Path) -> None:
    kafka, cassandra = nodes_of(LocalCluster(settings(tmp_path), nodes=3))
    assert {k.heap_mb for k in kafka} == {384}
    assert {c.heap_mb for c in cassandra} == {768}
    yaml = cassandra[0].write_config(LocalCluster(settings(tmp_path), nodes=3).layout(cassandra[0])).read_text()
    assert "memtable_heap_space: 192MiB" in yaml
    kafka, cassandra = nodes_of(LocalCluster(settings(tmp_path, kafka_heap_mb=600, cassandra_heap_mb=900), nodes=3))
    assert {k.heap_mb for k in kafka} == {600}
    assert {c.heap_mb for c in cassandra} == {900}


def test_the_single_node_default_keeps_its_names_and_addresses(tmp_path: Path) -> None:
    cluster = LocalCluster(settings(tmp_path))
    assert cluster.nodes == 1
    kafka, cassandra = cluster.services
    assert (kafka.name, kafka.endpoint, cassandra.name, cassandra.endpoint) == (
        "kafka",
        "127.0.0.1:39092",
        "cassandra",
        "127.0.0.1:39042",
    )
    assert isinstance(kafka, Kafka)
    config = properties(kafka.write_config(cluster.layout(kafka)).read_text())
    assert config["controller.quorum.voters"] == "1@127.0.0.1:39093"
    assert config["default.replication.factor"] == config["min.insync.replicas"] == "1"


def test_nodes_on_different_addresses_share_port_numbers_but_a_taken_address_is_refused(tmp_path: Path) -> None:
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(4)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        kafka, controller, storage, jmx = (sock.getsockname()[1] for sock in socks)
    ports = {"kafka_controller_port": controller, "cassandra_storage_port": storage, "cassandra_jmx_port": jmx}
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.2", 0))
        taken.listen()
        port = taken.getsockname()[1]
        chosen = settings(tmp_path, kafka_bootstrap=f"127.0.0.1:{kafka}", cassandra_port=port, **ports)
        cluster = LocalCluster(chosen, nodes=3)
        taken_message = rf"port 127\.0\.0\.2:{port} \(SCORECAST_CASSANDRA_PORT\) is already in use"
        with pytest.raises(InfraError, match=taken_message):
            check_ports(list(cluster.services))
    check_ports(list(cluster.services))  # free again: the same number on three addresses is no clash


def test_up_refuses_a_folder_that_holds_a_cluster_of_another_size(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "nodes").write_text("3")
    assert LocalCluster(settings(tmp_path)).nodes == 3, "without --nodes, the recorded cluster is the one meant"
    with pytest.raises(InfraError, match="holds a 3-node cluster, not 1"):
        LocalCluster(settings(tmp_path), nodes=1).up()
    assert not (tmp_path / "run").exists()
