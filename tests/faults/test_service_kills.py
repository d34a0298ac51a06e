"""kill -9 and SIGTERM of Cassandra and of Kafka while a scorer worker scores a live stream: nothing
acknowledged is lost, no row is wrong, and scoring resumes soon after the service is back (issue 15).

Each scenario: a `scorecast worker score` subprocess, N events produced through the SDK at a steady rate, the
service stopped (SIGKILL: no flush, no drain; SIGTERM: its own shutdown) once a quarter of them are scored,
down for OUTAGE_S, restarted, then every event accounted for from the events topic, Cassandra and the output
topics. Figures go to docs/reliability.md. SCORECAST_FAULTS_WORKER_ARGS adds worker options (e.g.
"--instance-id w1" for static membership).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from scorecast.settings import Settings
from scorers.registry import Registry
from scorers.training import ExampleModel, register_examples
from tests.faults.cluster import FaultCluster
from tests.faults.scenario import FIGURES, Figures, Producing, Rows, account, spawn_worker

pytestmark = pytest.mark.slow

EVENTS = 30_000
RATE = 1_500.0  # events/s: 20 s of production, so the fault and the restart happen mid-load
OUTAGE_S = 5.0
RECOVERY_TARGET_S = 15.0


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
@pytest.mark.parametrize("service", ["cassandra", "kafka"])
def test_service_stopped_mid_load_loses_nothing_and_scoring_resumes(
    service: str,
    sig: signal.Signals,
    settings: Settings,
    cluster: FaultCluster,
    example_models: list[ExampleModel],
    tmp_path: Path,
) -> None:
    settings = settings.model_copy(update={"model_store": str(tmp_path / "models"), "onnx_device": "cpu"})
    with Registry.open(settings) as registry:
        register_examples(registry, example_models)
        (champion,) = registry.aliases("fraud")["champion"]
    figures = Figures(f"{'kill -9' if sig == signal.SIGKILL else 'SIGTERM'} {service} mid-load")
    rows = Rows(settings)
    log = FIGURES.parent / "logs" / f"worker-{service}-{sig.name.lower()}.log"  # kept for reading timings
    log.parent.mkdir(parents=True, exist_ok=True)
    log.unlink(missing_ok=True)
    worker = spawn_worker(settings, log, *os.environ.get("SCORECAST_FAULTS_WORKER_ARGS", "").split())
    try:
        producing = Producing(settings, EVENTS, RATE, seed=21)
        before, _ = rows.wait_for(lambda n: n >= EVENTS // 4, timeout_s=120)

        killed_at = time.monotonic()
        cluster.kill(service, sig)
        time.sleep(OUTAGE_S)
        restarting = time.monotonic()
        ready_at = cluster.restart()
        figures.outage_s = round(ready_at - killed_at, 1)
        figures.restart_s = round(ready_at - restarting, 1)

        at_ready, _ = rows.wait_for(lambda n: True, timeout_s=60, poll_s=0.1)
        _, resumed_at = rows.wait_for(lambda n: n > at_ready, timeout_s=180, poll_s=0.1)
        figures.recovery_s = round(resumed_at - ready_at, 1)

        result = producing.join(timeout_s=300)
        assert result.sent == EVENTS
        rows.wait_for(lambda n: n >= EVENTS, timeout_s=300, poll_s=1.0)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0, log.read_text()[-3000:]
        account(settings, rows, champion, figures)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        rows.close()
    figures.notes.append(f"{before} rows stored when killed")
    figures.save()
    print(figures)
    assert figures.produced == EVENTS
    assert (figures.lost, figures.wrong, figures.dead_lettered) == (0, 0, 0)
    assert figures.scored == EVENTS
    assert figures.recovery_s <= RECOVERY_TARGET_S, f"scoring resumed {figures.recovery_s}s after {service} was ready"
