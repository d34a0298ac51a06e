"""The rollout controller (`scorecast worker rollout`): every few seconds, evaluate and advance or roll back.

Each evaluation reads the newest rollout row and the registry's champion, feeds what is new since the
previous evaluation (joined results, labels) into the rollout's incremental evidence (``evidence.py``),
decides (``decide.py``) and writes the outcome with a conditional update. The evidence lives in memory only;
a restarted controller rebuilds it once by reading the rollout's data from its start (the tests' order is
fixed by event time, so the rebuilt state is the same), then resumes where the row says. Two controllers of
one model cannot both apply a transition (the loser's update is not applied; it re-reads next time). Registry changes
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

from scorecast.io.cassandra import cassandra_session
from scorecast.settings import Settings
from scorers.aliases import AliasAction, single
from scorers.artifacts import open_store
from scorers.registry import Registry
from scorers.rollouts.decide import Decision, decide
from scorers.rollouts.evidence import RolloutEvidence
from scorers.rollouts.lifecycle import ACTOR, end_canary
from scorers.rollouts.observe import LabelFeed, Observer, ResultsCursor
from scorers.rollouts.status import RolloutStatus
from scorers.rollouts.store import Rollout, RolloutStore
from streams.alerts import Alert, Alerter

log = logging.getLogger(__name__)
Clock = Callable[[], float]


@dataclass(frozen=True)
class ControllerConfig:
    model: str
    stream: str
    interval_s: float = 5.0
    read_labels: bool = True
    settle_s: float = 30.0  # joined rows written this late (event time) are still read


@dataclass
class _Tracked:
    """One rollout's evidence and the readers that feed it."""

    rollout_id: object
    evidence: RolloutEvidence
    results: ResultsCursor
    labels: LabelFeed | None

    def close(self) -> None:
        if self.labels is not None:
            self.labels.close()


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
        self._tracked: _Tracked | None = None

    def evaluate_once(self) -> Decision | None:
        """One evaluation of the model's running rollout; None when there is none."""
        rollout = self.store.latest(self.config.model)
        if rollout is None or rollout.status != RolloutStatus.RUNNING:
            return None
        now_ms = int(self.clock() * 1000)
        champion = single(self.registry.aliases(rollout.model), "champion")
        tracked = self._track(rollout)
        evidence = tracked.evidence
        evidence.on_stage(rollout.stage, rollout.stage_started_ms)
        evidence.results(tracked.results.read(now_ms))
        if tracked.labels is not None:
            batch = tracked.labels.poll()
            evidence.labels(batch.partitions, batch.event_ids, batch.labels, batch.label_times)
            for partition in batch.caught_up:
                evidence.labels_idle(partition)
        evidence.close()
        candidate_errors, champion_errors = self.observer.dead_letters(rollout.stage_started_ms, now_ms)
        champion_events = round(evidence.guardrails.events / rollout.spec.shadow_fraction) + champion_errors
        evidence.guardrails.errors(candidate_errors, champion_errors, champion_events)
        decision = decide(rollout, evidence.snapshot(), champion, now_ms)
        self.apply(rollout, decision, now_ms)
        return decision

    def _track(self, rollout: Rollout) -> _Tracked:
        """The rollout's evidence, built from the rollout's start the first time it is seen."""
        if self._tracked is not None and self._tracked.rollout_id == rollout.rollout_id:
            return self._tracked
        if self._tracked is not None:
            self._tracked.close()
        started_ms = rollout_started_ms(rollout)
        settle_ms = round(self.config.settle_s * 1000)
        evidence = RolloutEvidence(rollout.spec, rollout.baseline, rollout.candidate, rollout.salt, settle_ms)
        labels = self.observer.labels(started_ms)
        if labels is not None:
            evidence.join.expect([("labels", p) for p in labels.partitions])
        results = self.observer.results(rollout.model, rollout.candidate, started_ms, settle_ms)
        self._tracked = _Tracked(rollout.rollout_id, evidence, results, labels)
        return self._tracked

    def close(self) -> None:
        if self._tracked is not None:
            self._tracked.close()
            self._tracked = None
        self.observer.close()

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
            completed = replace(after, status=RolloutStatus.COMPLETED, reason=d.reason)
            if self.store.transition(r, completed, "promote", now_ms):
                self._alert(r, "rollout:promoted", f"{r.model} v{r.candidate} promoted to champion: {d.reason}", now_ms)
        elif d.action == "rollback":
            end_canary(self.registry, r, d.reason, action=AliasAction.AUTO_ROLLBACK)
            rolled_back = replace(after, status=RolloutStatus.ROLLED_BACK, reason=d.reason)
            if self.store.transition(r, rolled_back, "rollback", now_ms):
                self._alert(r, "rollout:rolled_back", f"{r.model} v{r.candidate} rolled back: {d.reason}", now_ms)
        elif d.action == "abort":
            end_canary(self.registry, r, d.reason, action=AliasAction.UNSET)
            self.store.transition(r, replace(after, status=RolloutStatus.ABORTED, reason=d.reason), "abort", now_ms)

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
    with cassandra_session(settings) as session:
        registry = Registry(session, open_store(settings))
        observer = Observer(settings, session, config.stream, config.read_labels)
        controller = RolloutController(registry, RolloutStore(session), observer, config, alerter, clock)
        try:
            yield controller
        finally:
            controller.close()
