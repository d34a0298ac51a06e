"""kill -9 of one Cassandra node and one Kafka broker of a 3-node cluster while a scorer worker scores a live
stream (issue 18): nothing is lost, no row is wrong, scoring stalls no longer than the clients' failover, and
both nodes rejoin.

The cluster is the test's own (`scorecast infra up --nodes 3` under .scorecast/faults-cluster, node i on
127.0.0.i, Kafka 29092/29093, Cassandra 29042/27000/27199+): replication factor 3 everywhere, min.insync.replicas
2, producers with acks=all, reads and writes at QUORUM. `make faults-cluster` runs it; figures go to
docs/reliability.md. SCORECAST_FAULTS_KEEP=1 leaves the cluster running for a faster rerun.
"""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest
from cassandra import ConsistencyLevel
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
from cassandra.policies import ConstantReconnectionPolicy, RoundRobinPolicy, WhiteListRoundRobinPolicy
from confluent_kafka.admin import AdminClient

from infra.init import initialise
from infra.local import LocalCluster
from schemas.batch import EventBatchDecoder
from schemas.registry import open_store
from scorecast.cassandra import connect
from scorecast.settings import Settings
from scorers.hot_reload import ModelLoader
from scorers.registry import Registry
from scorers.scoring import ScoringCore
from scorers.training import ExampleModel, register_examples
from tests.faults.cluster import ROOT, FaultCluster
from tests.faults.scenario import FIGURES, STREAM, Figures, Producing, Rows, account, spawn_worker, topic_records

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

NODES = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
CLUSTER_PORTS: dict[str, object] = {
    "kafka_bootstrap": ",".join(f"{host}:29092" for host in NODES),
    "kafka_controller_port": 29093,
    "cassandra_port": 29042,
    "cassandra_storage_port": 27000,
    "cassandra_jmx_port": 27199,  # 27199, 27200, 27201: JMX binds the loopback address on every node
}
EVENTS = 24_000
RATE = 300.0  # events/s: 80 s of production, so both kills and both restarts happen mid-load
BATCH_MAX = 500  # rows land every second or so: a stall shows as a gap, not as one batch's write time
BETWEEN_KILLS_S = 5.0  # the broker dies this long after the Cassandra node, while the node is still down
DOWN_S = 10.0  # both stay down this long after the second kill, then both are restarted
# The clients' failover: Kafka fences a silent broker after broker.session.timeout.ms (9 s) and elects new
# leaders, producers and consumers refresh metadata within a second or two; the Cassandra driver fails a request
# in flight on a dead node at its request timeout (10 s) and the worker retries the batch on another node. On a
# busy 2-core machine, with six JVMs, a bound of both plus a margin.
STALL_BOUND_S = 30.0
REJOIN_TIMEOUT_S = 180.0


def cluster_settings() -> Settings:
    return Settings(
        infra_backend="local",
        infra_dir=ROOT / ".scorecast" / "faults-cluster",
        cassandra_hosts=list(NODES),
        topic_replication=3,
        keyspace_replication=3,
        cassandra_consistency="QUORUM",
        **CLUSTER_PORTS,  # type: ignore[arg-type]
    )


@dataclass
class ThreeNodes:
    settings: Settings
    faults: FaultCluster
    start_s: float


@pytest.fixture(scope="module")
def three_nodes() -> Iterator[ThreeNodes]:
    settings = cluster_settings()
    local = LocalCluster(settings, jars_dir=ROOT / ".scorecast" / "jars", nodes=3)
    if not any(status.pid for status in local.status()):
        local.down(purge=True)  # a clean slate: a cluster left by an earlier run only slows the restarts
    started = time.monotonic()
    local.up()
    try:
        yield ThreeNodes(settings, FaultCluster(settings, local), round(time.monotonic() - started, 1))
    finally:
        if not os.environ.get("SCORECAST_FAULTS_KEEP"):
            local.down()


@pytest.fixture
def services(three_nodes: ThreeNodes) -> Settings:
    return three_nodes.settings


@pytest.fixture
def settings(three_nodes: ThreeNodes) -> Iterator[Settings]:
    """A keyspace and topic prefix of this test on the 3-node cluster (not the fault suite's single-node one)."""
    tag = uuid.uuid4().hex[:10]
    isolated = three_nodes.settings.model_copy(update={"keyspace": f"t_{tag}", "topic_prefix": f"t{tag}."})
    initialise(isolated, [STREAM])
    yield isolated
    three_nodes.faults.up()  # the nodes back, whatever the test left down
    session = connect(isolated)
    try:
        session.execute(f"DROP KEYSPACE IF EXISTS {isolated.keyspace}", timeout=120)
    finally:
        session.cluster.shutdown()


def _session(settings: Settings, consistency: int, hosts: list[str] | None = None) -> Cluster:
    policy = WhiteListRoundRobinPolicy(hosts) if hosts else RoundRobinPolicy()
    profile = ExecutionProfile(load_balancing_policy=policy, consistency_level=consistency, request_timeout=20)
    return Cluster(
        hosts or settings.cassandra_hosts,
        port=settings.cassandra_port,
        protocol_version=5,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        reconnection_policy=ConstantReconnectionPolicy(0.5, max_attempts=None),
        connect_timeout=2,
    )


class Progress:
    """Counts prediction rows every 0.25 s from the test's side (at ONE: any live replica answers), so the
    longest time without a new row can be read afterwards."""

    def __init__(self, settings: Settings) -> None:
        self.cluster = _session(settings, ConsistencyLevel.ONE)
        self.session = self.cluster.connect(settings.keyspace)
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="progress", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            try:
                count = int(self.session.execute("SELECT count(*) FROM predictions", timeout=10).one()[0])
            except Exception:  # no answer while a node fails over: the gap shows in the samples
                continue
            self.samples.append((time.monotonic(), count))

    def latest(self) -> int:
        return max((count for _, count in self.samples), default=0)

    def wait_for(self, done: Callable[[int], bool], timeout_s: float) -> float:
        deadline = time.monotonic() + timeout_s
        while not done(self.latest()):
            assert time.monotonic() < deadline, f"no progress within {timeout_s:.0f}s (at {self.latest()} rows)"
            time.sleep(0.1)
        return time.monotonic()

    def longest_stall(self, start: float, end: float) -> float:
        """The longest time between two new rows (a higher count than any before) within [start, end]."""
        best, seen, last_new = 0.0, -1, None
        for at, count in self.samples:
            if count > seen:
                if last_new is not None and at >= start and last_new <= end:
                    best = max(best, min(at, end) - max(last_new, start))
                seen, last_new = count, at
        return round(best, 1)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.cluster.shutdown()


@dataclass
class ClusterFigures:
    """What docs/reliability.md reports for the cluster scenario."""

    accounting: Figures
    cluster_start_s: float = 0.0
    longest_stall_s: float = 0.0
    stall_after_cassandra_kill_s: float = 0.0
    stall_after_kafka_kill_s: float = 0.0
    restart_s: float = 0.0
    cassandra_rejoined_s: float = 0.0  # after its restart, until every client sees it up and it coordinates
    kafka_rejoined_s: float = 0.0  # after its restart, until it is back in every partition's in-sync replicas
    wrong_scores: int = 0
    notes: list[str] = field(default_factory=list)

    def save(self) -> None:
        record = {**asdict(self.accounting), **{k: v for k, v in asdict(self).items() if k != "accounting"}}
        record["notes"] = self.accounting.notes + self.notes
        FIGURES.parent.mkdir(parents=True, exist_ok=True)
        with FIGURES.open("a") as out:
            out.write(json.dumps({"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **record}) + "\n")


def cassandra_rejoined(settings: Settings, host: str) -> bool:
    """A new client sees all three nodes up, and ``host`` coordinates a QUORUM read (it serves again)."""
    cluster = _session(settings, ConsistencyLevel.QUORUM)
    try:
        cluster.connect()
        if not all(h.is_up for h in cluster.metadata.all_hosts()) or len(cluster.metadata.all_hosts()) != 3:
            return False
    except Exception:
        return False
    finally:
        cluster.shutdown()
    pinned = _session(settings, ConsistencyLevel.QUORUM, hosts=[host])
    try:
        session = pinned.connect(settings.keyspace)
        session.execute("SELECT model FROM predictions LIMIT 1")
        return True
    except Exception:
        return False
    finally:
        pinned.shutdown()


def kafka_rejoined(settings: Settings, broker: int) -> bool:
    """The broker is back in the cluster's metadata and in the in-sync replicas of every partition of the
    events topic (it caught up with what was written while it was down)."""
    topic = settings.topic(STREAM, "events")
    try:
        metadata = AdminClient(settings.kafka_config()).list_topics(topic, timeout=5)
    except Exception:
        return False
    partitions = metadata.topics[topic].partitions.values()
    return broker in metadata.brokers and all(broker in p.isrs and len(p.isrs) == 3 for p in partitions)


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> float:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"{what} within {timeout_s:.0f}s"
        time.sleep(0.5)
    return time.monotonic()


def wrong_scores(settings: Settings, champion: int) -> int:
    """Rows whose score differs (bit for bit) from the event scored offline by the same model version."""
    topic = settings.topic(STREAM, "events")
    with Registry.open(settings) as registry:
        model = ModelLoader(registry, settings, STREAM).load("fraud", champion)
    core = ScoringCore(EventBatchDecoder(open_store(settings), STREAM, topic))
    rows = core.score([value for _, value in topic_records(settings, "events")], [model], "champion").results[0].rows
    expected = dict(zip(rows.event_ids, rows.scores.astype(float).tolist(), strict=True))
    cluster = _session(settings, ConsistencyLevel.QUORUM)
    try:
        stored = cluster.connect(settings.keyspace).execute("SELECT event_id, score FROM predictions", timeout=120)
        return sum(1 for row in stored if expected.get(row.event_id) != row.score)
    finally:
        cluster.shutdown()


def test_a_cassandra_node_and_a_kafka_broker_killed_mid_load_lose_nothing_and_rejoin(
    three_nodes: ThreeNodes,
    settings: Settings,
    example_models: list[ExampleModel],
    tmp_path: Path,
) -> None:
    settings = settings.model_copy(update={"model_store": str(tmp_path / "models"), "onnx_device": "cpu"})
    with Registry.open(settings) as registry:
        register_examples(registry, example_models)
        (champion,) = registry.aliases("fraud")["champion"]
    faults = three_nodes.faults
    figures = ClusterFigures(Figures("3 nodes: kill -9 cassandra-1 and kafka-1 mid-load"), three_nodes.start_s)
    log = FIGURES.parent / "logs" / "worker-cluster.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.unlink(missing_ok=True)
    progress = Progress(settings)
    worker = spawn_worker(settings, log, "--batch-max", str(BATCH_MAX))
    try:
        producing = Producing(settings, EVENTS, RATE, seed=18)
        first_row = progress.wait_for(lambda n: n > 0, timeout_s=180)
        progress.wait_for(lambda n: n >= EVENTS // 5, timeout_s=180)

        # Node 1 of each: Cassandra's seed and the first contact point, the first bootstrap server.
        cassandra_killed = time.monotonic()
        faults.kill("cassandra-1")
        time.sleep(BETWEEN_KILLS_S)
        kafka_killed = time.monotonic()
        faults.kill("kafka-1")
        time.sleep(DOWN_S)
        restarting = time.monotonic()
        ready = faults.restart()
        figures.restart_s = round(ready - restarting, 1)
        rejoined = wait_until(
            lambda: cassandra_rejoined(settings, NODES[0]), REJOIN_TIMEOUT_S, "cassandra-1 did not rejoin"
        )
        figures.cassandra_rejoined_s = round(rejoined - ready, 1)
        rejoined = wait_until(lambda: kafka_rejoined(settings, 1), REJOIN_TIMEOUT_S, "kafka-1 did not rejoin")
        figures.kafka_rejoined_s = round(rejoined - ready, 1)

        result = producing.join(timeout_s=600)
        assert result.sent == EVENTS
        all_scored = progress.wait_for(lambda n: n >= EVENTS, timeout_s=600)
        figures.longest_stall_s = progress.longest_stall(first_row, all_scored)
        figures.stall_after_cassandra_kill_s = progress.longest_stall(cassandra_killed, kafka_killed)
        figures.stall_after_kafka_kill_s = progress.longest_stall(kafka_killed, all_scored)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=120) == 0, log.read_text()[-3000:]
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        progress.close()

    rows = QuorumRows(settings)
    try:
        account(settings, rows, champion, figures.accounting)
    finally:
        rows.close()
    figures.wrong_scores = wrong_scores(settings, champion)
    # The worker's own account of each failover: "delivery works again after 3.1s and 1 retries".
    figures.notes += re.findall(r"delivery works again after [\d.]+s and \d+ retries", log.read_text())
    figures.save()
    print(figures)
    accounting = figures.accounting
    assert accounting.produced == EVENTS
    assert (accounting.lost, accounting.wrong, accounting.dead_lettered, figures.wrong_scores) == (0, 0, 0, 0)
    assert accounting.scored == EVENTS
    assert figures.longest_stall_s <= STALL_BOUND_S, f"scoring stalled {figures.longest_stall_s}s"


class QuorumRows(Rows):
    """The stored rows, read at QUORUM: every acknowledged write, even where one replica missed some."""

    def __init__(self, settings: Settings) -> None:  # no super(): the same session, at another consistency
        self.cluster = _session(settings, ConsistencyLevel.QUORUM)
        self.session = self.cluster.connect(settings.keyspace)
