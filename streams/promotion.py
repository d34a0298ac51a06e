"""Promotion decisions: each challenger against the champion on the same labelled events, tested sequentially.

For every (champion, challenger) pair the per-event improvement ``loss(champion) - loss(challenger)`` (log loss
by default, Brier optionally, both strictly proper) feeds a ``MixtureSPRT``; its verdict maps to PROMOTE
(better), REJECT (worse, or futile: the confidence sequence lies below the smallest improvement worth a
switch, or the pair budget ran out) or HOLD. A report is produced when the decision changes and every
``report_every`` pairs. Pure logic; the whole state is a small JSON document for checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from streams.performance import LOSSES
from streams.sequential import MixtureSPRT, SequentialConfig, SequentialResult, Verdict

DECISIONS = {Verdict.CONTINUE: "HOLD", Verdict.BETTER: "PROMOTE", Verdict.WORSE: "REJECT", Verdict.FUTILE: "REJECT"}


@dataclass(frozen=True)
class PromotionPolicy:
    test: SequentialConfig = field(default_factory=SequentialConfig)
    loss: str = "log_loss"
    report_every: int = 1_000  # pairs between two HOLD reports

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; one of {', '.join(LOSSES)}")


@dataclass(frozen=True)
class PromotionReport:
    champion: int
    challenger: int
    result: SequentialResult
    champion_loss: float  # mean loss over the pairs tested
    challenger_loss: float
    first_time_ms: int  # event-time span of the pairs tested
    last_time_ms: int

    @property
    def decision(self) -> str:
        return DECISIONS[self.result.verdict]

    @property
    def reason(self) -> str:
        return {
            Verdict.CONTINUE: "undecided",
            Verdict.BETTER: "better",
            Verdict.WORSE: "worse",
            Verdict.FUTILE: "futile",
        }[self.result.verdict]

    @property
    def relative_improvement(self) -> float:
        return self.result.mean / self.champion_loss if self.champion_loss > 0 else 0.0


@dataclass
class _Pair:
    test: MixtureSPRT
    loss_sums: list[float] = field(default_factory=lambda: [0.0, 0.0])  # champion, challenger (tested pairs)
    times: list[int] = field(default_factory=lambda: [2**62, -(2**62)])
    reported_n: int = 0


class PromotionTracker:
    def __init__(self, policy: PromotionPolicy) -> None:
        self.policy = policy
        self.loss = LOSSES[policy.loss]
        self._pairs: dict[tuple[int, int], _Pair] = {}

    def add(
        self,
        champion: int,
        challenger: int,
        champion_scores: np.ndarray,
        challenger_scores: np.ndarray,
        labels: np.ndarray,
        event_times_ms: np.ndarray,
    ) -> list[PromotionReport]:
        """Paired predictions with their horizon labels, in event-time order (streams.join); a report if one is due."""
        pair = self._pairs.get((champion, challenger))
        if pair is None:
            pair = self._pairs[(champion, challenger)] = _Pair(MixtureSPRT(self.policy.test))
        before = pair.test.n
        if pair.test.verdict is not Verdict.CONTINUE:
            return []
        a, b = self.loss(champion_scores, labels), self.loss(challenger_scores, labels)
        result = pair.test.update(a - b)
        used = result.n - before  # the test stops at a verdict: later pairs are not part of the evidence
        pair.loss_sums[0] += float(a[:used].sum())
        pair.loss_sums[1] += float(b[:used].sum())
        if used:
            pair.times[0] = min(pair.times[0], int(np.min(event_times_ms[:used])))
            pair.times[1] = max(pair.times[1], int(np.max(event_times_ms[:used])))
        due = result.verdict is not Verdict.CONTINUE or result.n // self.policy.report_every > pair.reported_n
        if not due:
            return []
        pair.reported_n = result.n // self.policy.report_every
        return [self._report(champion, challenger, pair)]

    def reports(self) -> list[PromotionReport]:
        """The current standing of every pair."""
        return [self._report(c, ch, p) for (c, ch), p in self._pairs.items() if p.test.n]

    def _report(self, champion: int, challenger: int, pair: _Pair) -> PromotionReport:
        n = max(pair.test.n, 1)
        return PromotionReport(
            champion,
            challenger,
            pair.test.result(),
            pair.loss_sums[0] / n,
            pair.loss_sums[1] / n,
            pair.times[0],
            pair.times[1],
        )

    def state(self) -> dict[str, Any]:
        return {
            f"{c}:{ch}": {
                "test": p.test.state(),
                "loss_sums": p.loss_sums,
                "times": p.times,
                "reported_n": p.reported_n,
            }
            for (c, ch), p in self._pairs.items()
        }

    def restore(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            champion, challenger = (int(v) for v in key.split(":"))
            test = MixtureSPRT.resume(self.policy.test, value["test"])
            self._pairs[(champion, challenger)] = _Pair(
                test, list(value["loss_sums"]), list(value["times"]), int(value["reported_n"])
            )
