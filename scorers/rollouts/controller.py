"""The rollout controller (`scorecast worker rollout`): every few seconds, evaluate and advance or roll back.

It keeps no state of its own: each evaluation reads the newest rollout row, the registry's champion and the
window's observations, decides (``decide.py``) and writes the outcome with a conditional update. So a
restarted controller resumes exactly where the row says, and two controllers of one model cannot both
apply a transition (the loser's update is not applied; it re-reads at the next evaluation). Registry changes
come before the row's: a rollback removes the canary alias first, so lookups stop serving the candidate even
if the controller dies before it writes "rolled_back" (the next evaluation finishes the job).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from cassandra.util import unix_time_from_uuid1

from scorecast.cassandra import connect
from scorecast.settings import Settings
from scorers.aliases import single
from scorers.artifacts import open_store
from scorers.registry import Registry
from scorers.rollouts.decide import Decision, decide
from scorers.rollouts.lifecycle import ACTOR, end_canary
from scorers.rollouts.observe import Observer
from scorers.rollouts.store import Rollout, RolloutStore
from streams.alerts import Alert, Alerter

log = logging.getLogger(__name__)
Clock = Callable[[], float]


@dataclass(frozen=True)
class ControllerConfig:
    model: str
    stream: str = "transactions"
    interval_s: float = 5.0
    read_labels: bool = True


class RolloutController:
    def __init__(
        self,
        registry: Registry,
        store: RolloutStore,
        observer: Observer,
        config: ControllerConfig,
        alerter: Alerter | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.registry = registry
        self.store = store
        self.observer = observer
        self.config = config
        self.alerter = alerter or Alerter()
        self.clock = clock

    def evaluate_once(self) -> Decision | None:
        """One evaluation of the model's running rollout; None when there is none."""
        rollout = self.store.latest(self.config.model)
        if rollout is None or rollout.status != "running":
            return None
        now_ms = int(self.clock() * 1000)
        champion = single(self.registry.aliases(rollout.model), "champion")
        spec = rollout.spec
        stage = self.observer.window(rollout.model, rollout.candidate, rollout.stage_started_ms, now_ms,
                                     spec.shadow_fraction)  # fmt: skip
        whole = None
        if spec.strategy == "ab" and rollout.stage > 0:
            started_ms = rollout_started_ms(rollout)
            whole = self.observer.window(rollout.model, rollout.candidate, started_ms, now_ms, spec.shadow_fraction)
        decision = decide(rollout, stage, champion, now_ms, whole)
        self.apply(rollout, decision, now_ms)
        return decision

    def apply(self, r: Rollout, d: Decision, now_ms: int) -> None:
        after = replace(r, evidence=d.evidence, assignments=d.assignments, recommendation=d.recommendation)
        if d.action == "hold":
            self.store.transition(r, after, None, now_ms)
            return
        log.info("rollout of %s v%d: %s (%s)", r.model, r.candidate, d.action, d.reason)
        if d.action == "advance":
            after = replace(after, stage=r.stage + 1, stage_started_ms=now_ms, assignments={}, reason=d.reason)
            self.store.transition(r, after, "advance", now_ms)
        elif d.action == "promote":
            self.registry.promote(r.model, r.candidate, reason=f"rollout: {d.reason}", actor=ACTOR)
            if self.store.transition(r, replace(after, status="completed", reason=d.reason), "promote", now_ms):
                self._alert(r, "rollout:promoted", f"{r.model} v{r.candidate} promoted to champion: {d.reason}", now_ms)
        elif d.action == "rollback":
            end_canary(self.registry, r, d.reason, action="auto-rollback")
            if self.store.transition(r, replace(after, status="rolled_back", reason=d.reason), "rollback", now_ms):
                self._alert(r, "rollout:rolled_back", f"{r.model} v{r.candidate} rolled back: {d.reason}", now_ms)
        elif d.action == "abort":
            end_canary(self.registry, r, d.reason, action="unset")
            self.store.transition(r, replace(after, status="aborted", reason=d.reason), "abort", now_ms)

    def _alert(self, r: Rollout, metric: str, message: str, now_ms: int) -> None:
        evidence = {"rollout_id": str(r.rollout_id), "stage": f"{r.spec.stages[r.stage]:g}"}
        self.alerter.fire([Alert(r.model, "rollout", metric, message, r.stage_started_ms, now_ms, r.candidate,
                                 evidence)])  # fmt: skip

    def run(self, stop: threading.Event, until_done: bool = False) -> None:
        """Evaluate every ``interval_s`` until ``stop`` (or, with ``until_done``, until no rollout runs)."""
        while not stop.is_set():
            try:
                decision = self.evaluate_once()
            except Exception:  # a failed evaluation (Cassandra, Kafka briefly away) is retried next interval
                log.exception("rollout evaluation of %s failed", self.config.model)
                decision = Decision("hold", "evaluation failed")
            if until_done and decision is None:
                return
            stop.wait(self.config.interval_s)


def rollout_started_ms(rollout: Rollout) -> int:
    return int(unix_time_from_uuid1(rollout.rollout_id) * 1000)


@contextmanager
def rollout_controller(
    settings: Settings, config: ControllerConfig, alerter: Alerter | None = None, clock: Clock = time.time
) -> Iterator[RolloutController]:
    session = connect(settings, settings.keyspace)
    try:
        registry = Registry(session, open_store(settings))
        observer = Observer(settings, session, config.stream, config.read_labels)
        yield RolloutController(registry, RolloutStore(session), observer, config, alerter, clock)
    finally:
        session.cluster.shutdown()
