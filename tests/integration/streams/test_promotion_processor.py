"""The promotion processor against real Kafka and Cassandra: a better challenger is promoted with its evidence,
per-version performance is reported, and a restart counts every event exactly once at its label horizon."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from scipy.special import expit

from scorecast.cassandra import connect
from scorecast.settings import Settings
from streams.config import StreamsConfig
from streams.promotion_worker import PromotionWorker
from streams.runtime import promotion_processor
from streams.store import SignalStore
from tests.integration.streams.conftest import MODEL, STREAM, Webhook, produce, read_topic, register

START_MS = 1_767_225_600_000


HORIZON_S = 90.0


def traffic(seed: int, n: int, challenger_noise: float) -> dict[str, list[dict[str, Any]]]:
    """Champion v1 and challenger v2 predictions of n events (5 ms apart) and their late labels, produced in
    label-time order as a label feed sends them: fraud after 30 s, legitimate events after 60 s, every fourth
    legitimate one after 150 s (beyond the 90 s horizon: it counts as the default class, 0, all the same)."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(-4.5, 1.5, n)
    labels = (rng.random(n) < expit(truth)).astype(int)
    scores = {1: expit(truth + rng.normal(0, 1.0, n)), 2: expit(truth + rng.normal(0, challenger_noise, n))}
    times = START_MS + np.arange(n) * 5
    delays = np.where(labels == 1, 30_000, np.where(np.arange(n) % 4 == 0, 150_000, 60_000))

    def prediction(i: int, version: int) -> dict[str, Any]:
        return {
            "event_id": f"e{i}",
            "entity_id": f"card-{i % 997}",
            "event_time": int(times[i]),
            "model": MODEL,
            "version": version,
            "score": float(scores[version][i]),
            "outputs": {},
            "scored_at": int(times[i]) + 3,
            "variant": "champion" if version == 1 else "challenger",
        }

    return {
        "predictions": [prediction(i, 1) for i in range(n)],
        "shadow-predictions": [prediction(i, 2) for i in range(n)],
        "labels": [
            {
                "event_id": f"e{i}",
                "entity_id": f"card-{i % 997}",
                "label": int(labels[i]),
                "label_time": int(times[i] + delays[i]),
            }
            for i in np.argsort(times + delays, kind="stable").tolist()
        ],
    }


def options(webhook_url: str | None = None) -> Any:
    sections: dict[str, dict[str, Any]] = {
        "promotion": {
            "min_pairs": 500,
            "report_every": 2_000,
            "horizon_s": HORIZON_S,
            "label_lateness_s": 0.0,
            "prediction_lateness_s": 0.0,
        },
        "concept": {"window_s": 10.0, "label_horizon_s": 30.0, "min_labels": 200},
    }
    if webhook_url:
        sections["alerts"] = {"webhook_url": webhook_url}
    return StreamsConfig().for_model(MODEL, **sections)


def run(settings: Settings, webhook_url: str | None = None) -> PromotionWorker:
    with promotion_processor(settings, STREAM, MODEL, options(webhook_url)) as worker:
        worker.run(threading.Event(), idle_exit_s=3.0, checkpoint_s=1.0)
    return worker


def test_a_better_challenger_is_promoted_with_its_evidence(model_settings: Settings, webhook: Webhook) -> None:
    register(model_settings, None, versions=2)
    for kind, records in traffic(1, 12_000, challenger_noise=0.5).items():
        produce(model_settings, kind, records)
    worker = run(model_settings, webhook.url)
    assert worker.stats.decisions == {"1:2": "PROMOTE"}

    signals = read_topic(model_settings, "signals")
    promotion = [s for s in signals if s["kind"] == "PROMOTION"]
    decided = promotion[-1]
    assert (decided["decision"], decided["version"], decided["baseline_version"]) == ("PROMOTE", 2, 1)
    evidence = decided["evidence"]
    assert float(evidence["ci_low"]) > 0
    assert float(evidence["p_value"]) <= 0.05
    assert float(evidence["e_value"]) >= 19.99  # 1 / alpha, up to rounding at the crossing
    assert float(evidence["challenger_loss"]) < float(evidence["champion_loss"])
    assert int(evidence["n"]) < 12_000  # stopped as soon as the evidence sufficed
    assert all(s["decision"] == "HOLD" for s in promotion[:-1])

    performance = [s for s in signals if s["metric"] == "log_loss"]
    assert {s["version"] for s in performance} == {1, 2}
    loss = {v: np.mean([s["value"] for s in performance if s["version"] == v]) for v in (1, 2)}
    assert loss[2] < loss[1]

    session = connect(model_settings, model_settings.keyspace)
    try:
        stored = SignalStore(session).latest(MODEL, limit=1_000, kind="PROMOTION")
    finally:
        session.cluster.shutdown()
    assert any(s.decision == "PROMOTE" and s.version == 2 and s.evidence["reason"] == "better" for s in stored)

    alert_signals = [s for s in read_topic(model_settings, "signals") if s["kind"] == "ALERT"]
    alerts = webhook.wait_for(len(alert_signals))
    # Concept-drift alerts may come too (each performance window is an alpha-level test); one promotion alert.
    (alert,) = [a for a in alerts if a["kind"] == "promotion"]
    assert alert["evidence"]["decision"] == "PROMOTE"
    assert alert["version"] == 2


def test_after_a_restart_every_event_is_counted_exactly_once(model_settings: Settings) -> None:
    register(model_settings, None, versions=2)
    n = 8_000
    records = traffic(2, n, challenger_noise=1.0)  # as good as the champion: no decision, the test keeps counting
    produce(model_settings, "predictions", records["predictions"])
    produce(model_settings, "shadow-predictions", records["shadow-predictions"])
    split = 3 * n // 4  # by label time
    first_labels = records["labels"][:split]
    produce(model_settings, "labels", first_labels)
    first = run(model_settings)
    # An event is tested once the labels' watermark (the newest label time, every partition caught up) has
    # passed its event time plus the horizon.
    closed = max(r["label_time"] for r in first_labels) - HORIZON_S * 1000
    expected_first = sum(r["event_time"] <= closed for r in records["predictions"])
    assert 0 < expected_first < n
    assert first.stats.pairs == expected_first
    produce(model_settings, "labels", records["labels"][split:])
    second = run(model_settings)
    (standing,) = second.tracker.reports()
    assert standing.result.n == n  # nothing lost, nothing counted twice
    assert second.stats.pairs == n - expected_first
    counts = second.join.counts
    assert counts.labels_after_horizon > 0  # the labels beyond the horizon came, and the default class stood
