"""Rollouts end to end on real Kafka and Cassandra: events through the champion, the tee, the challengers and
the joiner; then the controller (with a controllable clock) rolls a bad canary back and a good one out."""

from __future__ import annotations

import time
from typing import Any

from scorecast.app.produce_cli import produce_synthetic
from scorecast.cassandra import connect
from scorecast.settings import Settings
from scorers.artifacts import open_store
from scorers.registry import ModelVersion, Registry
from scorers.rollouts.controller import ControllerConfig, rollout_controller
from scorers.rollouts.lifecycle import start
from scorers.rollouts.spec import Guardrails, RolloutSpec
from scorers.rollouts.store import RolloutStore
from streams.alerts import Alerter
from streams.webhook import WebhookSender
from tests.integration.rollouts.conftest import FakeClock, inverted
from tests.integration.shadow.conftest import Spawn, finish, join_all

RATE = 200.0  # events per second of event time
STAGE_S = 2.0  # each stage's minimum duration: 400 events of event time


def test_a_bad_canary_is_rolled_back_and_a_good_one_is_promoted_stage_by_stage(
    pipeline_settings: Settings, registered: list[ModelVersion], spawn: Spawn
) -> None:
    settings = pipeline_settings
    versions = {v.metrics["kind"]: v.version for v in registered}
    with Registry.open(settings) as registry:
        logistic = registry.artifact(registry.get("fraud", versions["logistic"]))
        bad = registry.register(
            "fraud", inverted(logistic), description="logistic, scores inverted", stream="transactions"
        ).version
        # A good candidate: the champion's model retrained to the same result (the example MLP's scores are
        # distributed too differently from LightGBM's for the default PSI guardrail).
        champion = registry.artifact(registry.get("fraud", versions["lightgbm"]))
        good = registry.register("fraud", champion, description="LightGBM, retrained", stream="transactions").version
        for version in (bad, good):
            registry.set_alias("fraud", "challenger", version)
    t0_ms = int(time.time() * 1000)
    produce_synthetic(settings, "transactions", count=2400, seed=11, rate=None, labels=False, start_ms=t0_ms)
    for process in (spawn("score", "--idle-exit", "4"), spawn("shadow-tee", "--idle-exit", "4")):
        finish(process)
    finish(spawn("challengers", "--idle-exit", "4"))
    join_all(settings, idle_exit_s=3.0)

    posted: list[dict[str, Any]] = []

    def post(url: str, payload: dict[str, Any]) -> int:
        posted.append(payload)
        return 200

    webhook = WebhookSender("http://alerts.invalid/hook", post=post)
    alerter = Alerter(webhook)
    clock = FakeClock(t0_ms / 1000)
    session = connect(settings, settings.keyspace)
    try:
        registry, store = Registry(session, open_store(settings)), RolloutStore(session)
        # Guardrails as configured, but latency judged generously: here the workers ran one after another.
        rails = Guardrails(max_latency_p99_ms=600_000)
        # No labels are read here (read_labels=False), so the operator waives the wait for label evidence
        # explicitly; without it the canary would hold before its last stage (tests/unit/rollouts).
        spec = RolloutSpec(min_duration_s=STAGE_S, min_samples=200, guardrails=rails, without_labels=True)
        config = ControllerConfig(model="fraud", stream="transactions", read_labels=False)
        with rollout_controller(settings, config, alerter, clock) as controller:
            # 1. the inverted model: rolled back at the first evaluation that has min_events joined events
            start(registry, store, "fraud", bad, spec, "", t0_ms)
            clock.now_s += 1.5  # ~300 events of the 1% stage's window (min_events: 200)
            decision = controller.evaluate_once()
            assert decision is not None
            assert decision.action == "rollback", decision
            rolled = store.latest("fraud")
            assert rolled is not None
            assert rolled.status == "rolled_back"
            assert "score_ks" in rolled.reason
            assert "canary" not in registry.aliases("fraud")
            last = registry.history("fraud")[0]
            assert (last.alias, last.action, last.previous) == ("canary", "auto-rollback", bad)
            assert "guardrail" in last.reason
            assert controller.evaluate_once() is None  # nothing runs any more

            # 2. a good candidate: every stage holds STAGE_S of event time, then the registry promotes it
            stage_started = int(clock.now_s * 1000)
            start(registry, store, "fraud", good, spec, "", stage_started)
            actions = []
            for _ in spec.stages:
                clock.now_s += STAGE_S
                decision = controller.evaluate_once()
                assert decision is not None
                actions.append(decision.action)
            assert actions == ["advance"] * 4 + ["promote"], actions
            done = store.latest("fraud")
            assert done is not None
            assert done.status == "completed"
            assert registry.aliases("fraud")["champion"] == (good,)
            logged = [e.action for e in store.events(done)]
            assert logged == ["start", "advance", "advance", "advance", "advance", "promote"]
            assert [round(e.fraction, 2) for e in store.events(done)][:5] == [0.01, 0.05, 0.25, 0.5, 1.0]
        webhook.close()
        metrics = [p["metric"] for p in posted]
        assert metrics == ["rollout:rolled_back", "rollout:promoted"]
        assert posted[0]["version"] == bad
    finally:
        session.cluster.shutdown()
