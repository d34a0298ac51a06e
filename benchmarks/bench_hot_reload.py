"""How long a running worker takes to serve a new champion after `promote` (or `rollback`) returns.

Real Cassandra (a keyspace of its own, dropped at the end), the example LightGBM and MLP models, one
``AliasWatcher`` per poll interval. Each switch waits a random fraction of the interval first, so the poll phase
is sampled fairly; the first switch to a version includes loading and verifying it, later ones hit the cache.
``python -m benchmarks.bench_hot_reload``
"""

from __future__ import annotations

import json
import random
import statistics
import tempfile
import time
import uuid
from typing import Any

from infra.migrations import migrate
from scorecast.cassandra import connect
from scorecast.settings import Settings
from scorers.hot_reload import follow
from scorers.registry import Registry
from scorers.training import train_examples


def switch_latencies(registry: Registry, settings: Settings, name: str, switches: int) -> dict[str, Any]:
    """Seconds from the alias change returning to the watcher serving it; versions 1 and 2 alternate."""
    rng = random.Random(0)
    cold: list[float] = []
    warm: list[float] = []
    with follow(registry, settings, name) as watcher:
        for i in range(switches):
            target = 2 if i % 2 == 0 else 1
            time.sleep(rng.uniform(0, settings.model_poll_interval_s))
            registry.promote(name, target, reason="bench")
            changed = time.perf_counter()
            while watcher.current().champion.version != target:
                time.sleep(0.0005)
            (cold if i == 0 else warm).append(time.perf_counter() - changed)
    warm.sort()
    return {
        "poll_interval_s": settings.model_poll_interval_s,
        "first_switch_with_load_ms": round(cold[0] * 1000, 1),
        "cached_switch_ms": {
            "p50": round(statistics.median(warm) * 1000, 1),
            "p95": round(warm[int(0.95 * (len(warm) - 1))] * 1000, 1),
            "max": round(warm[-1] * 1000, 1),
            "n": len(warm),
        },
    }


def main(intervals: tuple[float, ...] = (1.0, 0.1), switches: int = 21) -> None:
    base = Settings()
    settings = base.model_copy(update={"keyspace": f"bench_{uuid.uuid4().hex[:8]}", "onnx_device": "cpu"})
    _, models = train_examples(seed=7, n_train=30_000, n_holdout=10_000)
    session = connect(settings)
    try:
        migrate(session, settings)
        with tempfile.TemporaryDirectory() as store:
            settings = settings.model_copy(update={"model_store": store})
            with Registry.open(settings) as registry:
                for model in models[:2]:  # LightGBM champion, MLP challenger
                    registry.register("fraud", model.onnx, description=model.kind, stream="transactions")
                registry.promote("fraud", 1)
                results = []
                for interval in intervals:
                    timed = settings.model_copy(update={"model_poll_interval_s": interval})
                    results.append(switch_latencies(registry, timed, "fraud", switches))
                    registry.promote("fraud", 1)
    finally:
        session.execute(f"DROP KEYSPACE IF EXISTS {settings.keyspace}", timeout=60)
        session.cluster.shutdown()
    for result in results:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
