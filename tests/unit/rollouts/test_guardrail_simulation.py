"""Canary guardrails under simulation, through the evidence and decisions the controller runs: an equally good
retrain is not rolled back beyond the stated rate at 1, 20 or 200 events/s, and a useless model with the
champion's score distribution is not promoted before label evidence exists, then rolled back by it."""

from __future__ import annotations

import uuid
from dataclasses import replace

import numpy as np
from scipy import stats
from scipy.special import expit, logit

from scorers.rollouts.decide import Decision, decide
from scorers.rollouts.evidence import RolloutEvidence
from scorers.rollouts.spec import Guardrails, RolloutSpec
from scorers.rollouts.status import RolloutStatus
from scorers.rollouts.store import Rollout
from shadow.results import JoinedColumns
from tests.unit.streams.delayed import HOUR_MS, delayed_stream

TICK_MS = 5_000  # the controller's interval
SPEC = RolloutSpec(min_duration_s=60.0, min_samples=200)  # default guardrails, stages 1-5-25-50-100%


class Canary:
    """A rollout driven as the controller drives it: new rows and labels each tick, then a decision."""

    def __init__(self, spec: RolloutSpec, start_ms: int) -> None:
        self.rollout = Rollout("fraud", uuid.uuid1(), 2, 1, RolloutStatus.RUNNING, 0, start_ms, spec)
        self.evidence = RolloutEvidence(spec, 1, 2, "")
        self.evidence.join.expect([("labels", 0)])
        self.actions: list[str] = []
        self.last: Decision | None = None

    def tick(self, now: int, rows: JoinedColumns, labels: tuple[list[str], list[int], list[int]]) -> str:
        r = self.rollout
        self.evidence.on_stage(r.stage, r.stage_started_ms)
        self.evidence.results(rows)
        ids, values, times = labels
        self.evidence.labels([0] * len(ids), ids, values, times)
        self.evidence.labels([0], ["clock"], [0], [now])  # the label feed keeps flowing
        self.evidence.close()
        self.evidence.guardrails.errors(0, 0, self.evidence.guardrails.events)
        self.last = decide(r, self.evidence.snapshot(), 1, now)
        action = self.last.action
        if action == "advance":
            self.rollout = replace(r, stage=r.stage + 1, stage_started_ms=now)
        elif action == "promote":
            self.rollout = replace(r, status=RolloutStatus.COMPLETED)
        elif action == "rollback":
            self.rollout = replace(r, status=RolloutStatus.ROLLED_BACK)
        self.actions.append(action)
        return action


def stream(seed: int, rate: float, seconds: float, useless: bool = False) -> tuple[JoinedColumns, np.ndarray]:
    """Champion and candidate scores of ``rate`` x ``seconds`` events from the synthetic stream: an equally
    good retrain (independent noise of the same size on the true log-odds) or a useless model (the champion's
    scores shuffled across events), and the events' labels (with their times)."""
    n = max(1, round(rate * seconds))
    s = delayed_stream(seed, n)
    rng = np.random.default_rng([seed, 11])
    z = logit(np.clip(s.champion, 1e-12, 1 - 1e-12)) + 1.0  # the true log-odds
    champion = expit(z + rng.normal(0, 0.5, n))
    candidate = rng.permutation(champion) if useless else expit(z + rng.normal(0, 0.5, n))
    start = int(s.event_times[0])
    times = start + np.round(np.arange(n) * 1000 / rate).astype(np.int64)  # the wanted rate
    rows = JoinedColumns(2, s.event_ids, s.entity_ids, times, np.ones(n, dtype=np.int64), champion, candidate,
                         np.full(n, 5.0), np.full(n, 40.0))  # fmt: skip
    labels = np.stack([s.labels, times + (s.label_times - s.event_times)])
    return rows, labels


def run_canary(rows: JoinedColumns, labels: np.ndarray, ticks: list[int]) -> Canary:
    """Evaluations at ``ticks`` (ms after the first event) until a promotion or a rollback."""
    start = int(rows.event_times[0])
    canary = Canary(SPEC, start)
    order = np.argsort(labels[1], kind="stable")
    shown = told = 0
    for now in (start + t for t in ticks):
        upto = int(np.searchsorted(rows.event_times, now))
        arrived = int(np.searchsorted(labels[1][order], now))
        new = order[told:arrived]
        batch = ([rows.event_ids[i] for i in new], labels[0][new].tolist(), labels[1][new].tolist())
        if canary.tick(now, rows_between(rows, shown, upto), batch) in ("promote", "rollback"):
            break
        shown, told = upto, arrived
    return canary


def every(step_ms: int, until_ms: int, since_ms: int = 0) -> list[int]:
    return list(range(since_ms + step_ms, until_ms + 1, step_ms))


def rows_between(rows: JoinedColumns, start: int, stop: int) -> JoinedColumns:
    part = slice(start, stop)
    return JoinedColumns(rows.challenger_version, rows.event_ids[part], rows.entity_ids[part], rows.event_times[part],
                         rows.champion_versions[part], rows.champion_scores[part], rows.challenger_scores[part],
                         rows.champion_latency_ms[part], rows.challenger_latency_ms[part])  # fmt: skip


def test_an_equally_good_retrain_is_rolled_back_at_most_at_the_stated_rate() -> None:
    """The former PSI guardrail rolled such a retrain back in 100% / 43% / 0% of runs at 1 / 20 / 200 events/s."""
    alpha = Guardrails().alpha
    for rate, runs in ((1.0, 60), (20.0, 20), (200.0, 2)):
        rolled = 0
        for seed in range(runs):
            rows, labels = stream(seed, rate, 300.0)  # four stages of 60 s, the fourth waiting for labels
            canary = run_canary(rows, labels, every(TICK_MS, 300_000))
            rolled += "rollback" in canary.actions
            assert "promote" not in canary.actions  # no label evidence within 10 minutes
        assert stats.binomtest(rolled, runs, alpha, alternative="greater").pvalue > 0.01, (rate, rolled)


def test_a_useless_model_with_the_right_scores_waits_for_labels_then_is_rolled_back() -> None:
    """The former guardrails promoted it every time at 200 events/s: the label check never engaged."""
    rows, labels = stream(3, 200.0, 300.0, useless=True)
    minutes = every(TICK_MS, 600_000)
    canary = run_canary(rows, labels, minutes)
    assert canary.actions[-1] == "hold"
    assert canary.rollout.stage == 3  # held at 50%: the last stage needs label evidence
    assert canary.last is not None
    assert "waiting for label evidence" in canary.last.reason
    # The same rollout, evaluated on, hourly, for four days as its events pass their label horizon.
    hours = every(HOUR_MS, 4 * 24 * HOUR_MS)
    later = run_canary(rows, labels, minutes + [t for t in hours if t > minutes[-1]])
    assert later.actions[-1] == "rollback"
    assert later.last is not None
    assert "label_log_loss" in later.last.reason
    assert 72 <= len(later.actions) - len(minutes) <= 75  # hourly looks: the horizon (72 h) plus the lateness
