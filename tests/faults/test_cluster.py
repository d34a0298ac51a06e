"""kill -9 of one Cassandra node and one Kafka broker of a 3-node cluster while a scorer worker scores a live
stream (issue 18): nothing is lost, no row is wrong, scoring stalls no longer than the clients' failover, and
both nodes rejoin.

The cluster is the test's own (`scorecast infra up --nodes 3` under .scorecast/faults-cluster, node i on
127.0.0.i, Kafka 29092/29093, Cassandra 29042/27000/27199+): replication factor 3 everywhere, min.insync.replicas
2, producers with acks=all, reads and writes at QUORUM. `make faults-cluster` runs it; figures go to
docs/reliability.md. SCORECAST_FAULTS_KEEP=1 leaves the cluster running for a faster rerun.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
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
EVENTS = 40_000
RATE = 300.0  # events/s: 133 s of production; the kills come ~20 s in, so the restarts (70-100 s on a busy
# 2-core machine) happen mid-load too
BATCH_MAX = 500  # rows land every second or so: a stall shows as a gap, not as one batch's write time
BETWEEN_KILLS_S = 5.0  # the broker dies this long after the Cassandra node, while the node is still down
DOWN_S = 10.0  # both stay down this long after the second kill, then both are restarted
# The failover: Kafka fences a silent broker after broker.session.timeout.ms (9 s) and elects new leaders, and
# producers and consumers refresh metadata within a second or two; the Cassandra driver fails a request in
# flight on a dead node at its request timeout (10 s) and the worker retries the batch on another node. On a
# busy 2-core machine with six JVMs, a bound of both plus a margin for the longest time the worker scores
# nothing. (How long events wait is reported, not bounded: on that machine a backlog adds to it.)
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
    """Counts prediction rows every 0.25 s from the test's side (at ONE: any live replica answers)."""

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

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.cluster.shutdown()


@dataclass
class ClusterFigures:
    """What docs/reliability.md reports for the cluster scenario."""

    accounting: Figures
    cluster_start_s: float = 0.0
    longest_stall_s: float = 0.0  # the longest time the worker scored nothing (between two batches' scored_at)
    stall_began_s: float = 0.0  # when it began, from the kill of the Cassandra node (the broker's came later)
    wait_max_s: float = 0.0  # the longest an event waited to be scored (scored_at - event_time), backlog included
    wait_p99_s: float = 0.0
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
        progress.wait_for(lambda n: n >= EVENTS // 8, timeout_s=300)

        # Node 1 of each: Cassandra's seed and the first contact point, the first bootstrap server.
        cassandra_killed = time.time()
        faults.kill("cassandra-1")
        time.sleep(BETWEEN_KILLS_S)
        figures.notes.append(f"kafka-1 killed {time.time() - cassandra_killed:.1f}s after cassandra-1")
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
        progress.wait_for(lambda n: n >= EVENTS, timeout_s=600)
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
        timings = rows.timings()
    finally:
        rows.close()
    stall, began = longest_gap(sorted({scored_at for _, scored_at in timings}))
    figures.longest_stall_s, figures.stall_began_s = round(stall, 1), round(began - cassandra_killed, 1)
    waits = sorted(scored_at - event_time for event_time, scored_at in timings)
    figures.wait_max_s, figures.wait_p99_s = round(waits[-1], 1), round(waits[int(len(waits) * 0.99)], 1)
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


def longest_gap(times: list[float]) -> tuple[float, float]:
    """The longest interval between consecutive times, and when it began."""
    return max(((later - earlier, earlier) for earlier, later in itertools.pairwise(times)), default=(0, 0))


class QuorumRows(Rows):
    """The stored rows, read at QUORUM: every acknowledged write, even where one replica missed some."""

    def __init__(self, settings: Settings) -> None:  # no super(): the same session, at another consistency
        self.cluster = _session(settings, ConsistencyLevel.QUORUM)
        self.session = self.cluster.connect(settings.keyspace)

    def timings(self) -> list[tuple[float, float]]:
        """(event_time, scored_at) of every row, epoch seconds: the worker stamps a batch when it scores it."""
        rows = self.session.execute("SELECT event_time, scored_at FROM predictions", timeout=120)
        return [(_epoch(r.event_time), _epoch(r.scored_at)) for r in rows]


def _epoch(moment: datetime) -> float:
    return moment.replace(tzinfo=UTC).timestamp()  # the driver returns timestamps as naive UTC
