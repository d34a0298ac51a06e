"""One rollout's evidence, kept incrementally: every test has one state, appended in a fixed order.

The controller feeds what is new at each evaluation: joined shadow results (the champion's and the
candidate's score of the same event) and labels. Nothing is re-read or re-sorted between looks:
- the label tests (the A/B winner test at ``ab_alpha``, the label guardrail at ``label_alpha``) get each
  event once its label horizon has closed, in event-time order, with its label or the default class
  (``streams.join``), so neither inclusion nor order depends on the outcome;
- each stage has its own guardrail state (``guardrails.StageGuardrails``, its share of the guardrails'
  alpha) and its own SRM test on the entities first seen in it (``srm.SequentialSrm``), started afresh when
  the stage changes because the split's weights change with it.
Pure logic: a restarted controller rebuilds the same state by feeding the rollout's data again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scorers.rollouts.guardrails import GuardrailReport, StageGuardrails
from scorers.rollouts.spec import RolloutSpec
from scorers.rollouts.split import TrafficSplit
from scorers.rollouts.srm import EntitySrm, SrmResult
from shadow.results import JoinedColumns
from streams.join import HorizonSettings, LabelJoin
from streams.performance import log_loss
from streams.sequential import MixtureSPRT, SequentialConfig, SequentialResult

_RESULTS = ("results", 0)


@dataclass(frozen=True)
class Snapshot:
    """What one evaluation decides on."""

    stage: int
    events: int  # joined events in the stage
    guardrails: GuardrailReport
    assignments: dict[str, int]  # entities per variant in the stage
    srm: SrmResult | None  # A/B only
    label: SequentialResult  # label guardrail, over the rollout's closed events
    ab: SequentialResult | None  # A/B winner test, over the rollout's closed events
    closed: int  # events whose label horizon has closed
    labelled: int  # of those, with a label by the horizon


def horizon_of(spec: RolloutSpec, settle_ms: int) -> HorizonSettings:
    return HorizonSettings(
        round(spec.label_horizon_s * 1000),
        max_pending=500_000,  # ~225 MB; beyond it an outcome-independent hash sample (streams.join)
        default_label=spec.default_label,
        label_lateness_ms=round(spec.label_lateness_s * 1000),
        prediction_lateness_ms=settle_ms,
        track_offsets=False,  # the controller rebuilds from the rollout's start, not from offsets
    )


class RolloutEvidence:
    def __init__(self, spec: RolloutSpec, champion: int, candidate: int, salt: str, settle_ms: int = 0) -> None:
        self.spec, self.champion, self.candidate, self.salt = spec, champion, candidate, salt
        rails = spec.guardrails
        self.join = LabelJoin(horizon_of(spec, settle_ms))
        label = SequentialConfig(alpha=rails.label_alpha, design_n=max(rails.label_min_n * 5, 1000),
                                 min_n=rails.label_min_n)  # fmt: skip
        self.label = MixtureSPRT(label)
        ab = SequentialConfig(alpha=spec.ab_alpha, design_n=max(spec.ab_min_n * 10, 1000), min_n=spec.ab_min_n)
        self.ab = MixtureSPRT(ab) if spec.strategy == "ab" else None
        self._rows = 0
        self.stage = -1
        self._stage_started_ms = 0
        self._start_stage(0, 0)

    def on_stage(self, stage: int, started_ms: int) -> None:
        """The rollout is at ``stage`` since ``started_ms``: a new stage starts its own guardrails and SRM."""
        if stage != self.stage or started_ms != self._stage_started_ms:
            self._start_stage(stage, started_ms)

    def _start_stage(self, stage: int, started_ms: int) -> None:
        self.stage, self._stage_started_ms = stage, started_ms
        spec = self.spec
        self.guardrails = StageGuardrails(spec.guardrails, spec.guardrails.alpha / len(spec.stages))
        split = TrafficSplit(spec.stages[stage] / 100.0, self.salt)
        self.srm = EntitySrm(split, spec.shadow_fraction, spec.srm_alpha)

    def results(self, rows: JoinedColumns) -> None:
        """Joined rows not seen before (any order): the stage's share feeds its guardrails, all feed the join."""
        if not len(rows):
            return
        in_stage = rows.event_times >= self._stage_started_ms
        if in_stage.any():
            stage = rows.select(in_stage)
            self.guardrails.add(stage.champion_scores, stage.challenger_scores, stage.challenger_latency_ms)
            self.srm.add(stage.entity_ids)
        mine = rows.champion_versions == self.champion
        rows = rows.select(mine)
        n, offsets = len(rows), list(range(self._rows, self._rows + len(rows)))
        self._rows += n
        times = rows.event_times.tolist()
        src = [_RESULTS] * n
        self.join.predictions(src, offsets, rows.event_ids, [self.champion] * n, rows.champion_scores.tolist(),
                              times, True)  # fmt: skip
        self.join.predictions(src, offsets, rows.event_ids, [self.candidate] * n,
                              rows.challenger_scores.tolist(), times, False)  # fmt: skip

    def labels(self, partitions: list[int], event_ids: list[str], labels: list[int], label_times: list[int]) -> None:
        self.join.labels([("labels", p) for p in partitions], [0] * len(partitions), event_ids, labels, label_times)

    def labels_idle(self, partition: int) -> None:
        self.join.idle("labels", partition)

    def close(self) -> int:
        """Append the events whose horizon has closed to the label tests; how many were appended."""
        pair = self.join.close().pairs.get((self.champion, self.candidate))
        if pair is None:
            return 0
        champion, candidate, labels, _ = (np.asarray(c) for c in pair)
        differences = log_loss(champion, labels) - log_loss(candidate, labels)
        self.label.update(differences)
        if self.ab is not None:
            self.ab.update(differences)
        return len(differences)

    def snapshot(self) -> Snapshot:
        srm = self.srm.result() if self.spec.strategy == "ab" else None
        counts = self.join.counts
        return Snapshot(
            stage=self.stage,
            events=self.guardrails.events,
            guardrails=self.guardrails.report(self.label.result(), self.spec.guardrails.label_min_n),
            assignments=self.srm.assignments(),
            srm=srm,
            label=self.label.result(),
            ab=None if self.ab is None else self.ab.result(),
            closed=counts.closed,
            labelled=counts.labelled,
        )
