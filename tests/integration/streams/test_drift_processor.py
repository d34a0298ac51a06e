"""The drift processor against real Kafka and Cassandra: signals on the topic and in Cassandra, alerts to a
webhook, and a restart that neither loses nor repeats a window."""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from schemas.synthetic import SPEC, DriftConfig, TransactionGenerator, ground_truth_probability
from scorecast.app.cli import app
from scorecast.cassandra import connect
from scorecast.settings import Settings
from scorers.profile import ReferenceProfile, reference_profile
from streams.config import StreamsConfig
from streams.runtime import drift_processor
from streams.store import SignalStore
from tests.integration.streams.conftest import MODEL, STREAM, Webhook, produce, read_topic, register

SEED = 41
REFERENCE_EVENTS = 50_000
WINDOW_MS = 10_000  # ~2,000 events at the generator's 200 events/s


def reference() -> ReferenceProfile:
    features = TransactionGenerator(SEED).generate(REFERENCE_EVENTS).features()
    return reference_profile(SPEC, features, ground_truth_probability(features))


def live(n: int, skip: int = 0, drift: DriftConfig | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Events after the reference's (and after ``skip`` more), with the champion's predictions of them."""
    generator = TransactionGenerator(SEED, drift=drift)
    generator.generate(REFERENCE_EVENTS + skip)
    batch = generator.generate(n)
    scores = ground_truth_probability(batch.features())
    predictions = [
        {
            "event_id": r["event_id"],
            "entity_id": r["entity_id"],
            "event_time": r["event_time"],
            "model": MODEL,
            "version": 1,
            "score": float(s),
            "outputs": {},
            "scored_at": r["event_time"] + 5,
            "variant": "champion",
        }
        for r, s in zip(batch.records, scores, strict=True)
    ]
    return batch.records, predictions


def run(settings: Settings, webhook_url: str | None = None) -> Any:
    # A fixed per-window level: this tests the plumbing (the daily budget has its own simulation test), and at
    # 0.01 two dozen drift-free column tests flag at most one column, as the assertion below expects.
    sections: dict[str, dict[str, Any]] = {"drift": {"window_s": WINDOW_MS / 1000, "lateness_s": 30.0, "alpha": 0.01}}
    if webhook_url:
        sections["alerts"] = {"webhook_url": webhook_url, "backoff_s": 0.05}
    options = StreamsConfig().for_model(MODEL, **sections)
    with drift_processor(settings, STREAM, MODEL, options) as worker:
        return worker.run(threading.Event(), idle_exit_s=3.0, checkpoint_s=1.0)


def test_a_shifted_feature_is_signalled_on_the_topic_in_cassandra_and_to_the_webhook(
    model_settings: Settings, webhook: Webhook, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(model_settings, reference())
    drift_at = 10_000
    events, predictions = live(
        28_000, drift=DriftConfig(data_drift_at=REFERENCE_EVENTS + drift_at, shift={"customer_age": 0.2})
    )
    drift_time = events[drift_at]["event_time"]
    produce(model_settings, "events", events)
    produce(model_settings, "predictions", predictions)
    webhook.fail_first = 1  # the first POST gets a 503: the sender retries
    stats = run(model_settings, webhook.url)
    assert stats.events == 28_000
    assert stats.scores == 28_000

    on_topic = [s for s in read_topic(model_settings, "signals") if s["kind"] == "DRIFT"]
    age = {s["window_start"]: s for s in on_topic if s["metric"] == "ks:customer_age"}
    assert len(age) >= 10
    for start, signal in age.items():
        drifted = start >= drift_time
        assert signal["evidence"]["flagged"] == ("true" if drifted else "false"), start
    flags = Counter(s["metric"] for s in on_topic if s["evidence"].get("flagged") == "true")
    assert sum(n for m, n in flags.items() if m != "ks:customer_age") <= 1  # alpha-level noise at most
    assert {s["metric"] for s in on_topic} >= {"drift:features", "drift:score", "ks:score", "chi2:channel"}

    session = connect(model_settings, model_settings.keyspace)
    try:
        stored = SignalStore(session).latest(MODEL, limit=10_000)
    finally:
        session.cluster.shutdown()
    keys = {(s["metric"], s["window_end"], s["kind"]) for s in read_topic(model_settings, "signals")}
    assert {(s.metric, s.window_end, s.kind) for s in stored} == keys
    stored_age = next(s for s in stored if s.metric == "ks:customer_age" and s.window_start == max(age))
    assert stored_age.evidence["flagged"] == "true"
    assert float(stored_age.evidence["p_holm"]) <= 0.05

    alert_signals = [s for s in read_topic(model_settings, "signals") if s["kind"] == "ALERT"]
    alerts = webhook.wait_for(len(alert_signals))
    assert len(alerts) == len(alert_signals)
    about_age = [a for a in alerts if "customer_age" in a["evidence"]["columns"].split(",")]
    assert len(about_age) == 1  # edge-triggered: the drift lasts, the alert is sent once
    assert about_age[0]["model"] == MODEL
    assert about_age[0]["window_start"] >= drift_time - WINDOW_MS
    assert webhook.requests == len(alerts) + 1  # the first POST got a 503 and was retried

    monkeypatch.setenv("SCORECAST_KEYSPACE", model_settings.keyspace)
    monkeypatch.setenv("COLUMNS", "300")  # rich wraps the table at the terminal width
    result = CliRunner().invoke(app, ["signals", "show", "--model", MODEL, "--limit", "400", "--kind", "drift"])
    assert result.exit_code == 0, result.output
    assert "ks:customer_age" in result.output
    as_json = CliRunner().invoke(app, ["signals", "show", "--model", MODEL, "--limit", "50", "--json"])
    assert as_json.exit_code == 0, as_json.output
    records = [json.loads(line) for line in as_json.output.splitlines()]
    assert len(records) == 50
    assert {r["model"] for r in records} == {MODEL}


def test_a_restarted_processor_reports_every_window_once_and_whole(model_settings: Settings) -> None:
    register(model_settings, reference())
    events, predictions = live(16_000)
    produce(model_settings, "events", events[:7_000])
    produce(model_settings, "predictions", predictions[:7_000])
    first = run(model_settings)
    produce(model_settings, "events", events[7_000:])
    produce(model_settings, "predictions", predictions[7_000:])
    second = run(model_settings)
    assert first.events == 7_000
    assert second.events >= 9_000  # plus what the open windows needed again

    windows = [s for s in read_topic(model_settings, "signals") if s["metric"] == "drift:features"]
    starts = [s["window_start"] for s in windows]
    assert len(starts) == len(set(starts))  # no window reported twice
    times = np.array([e["event_time"] for e in events])
    expected = Counter((times // WINDOW_MS * WINDOW_MS).tolist())
    for signal in windows:  # each reported window holds exactly its events, across the restart
        assert int(signal["evidence"]["events"]) == expected[signal["window_start"]]
    assert sorted(starts) == sorted(expected)[: len(starts)]
    assert len(starts) >= len(expected) - 4  # all but the windows still open at the end (30 s lateness)
