"""What a rollout is asked to do: its stages, how long and on how many events each must hold, its guardrails.

Stored as JSON in the rollout's row, so a restarted controller evaluates exactly the rollout it was given.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from scorecast.errors import ScorecastError

Strategy = Literal["canary", "ab"]
DEFAULT_STAGES = (1.0, 5.0, 25.0, 50.0, 100.0)


class RolloutSpecError(ScorecastError):
    """A rollout was asked for with settings that cannot work."""


@dataclass(frozen=True)
class Guardrails:
    """Thresholds checked at every stage; crossing any one rolls the candidate back.

    Defaults: an error rate (dead letters of the candidate's path per event) more than 1 percentage point
    above the champion's; p99 produce-to-scored latency of the candidate over 2 s; a score distribution
    shifted from the champion's on the same events by PSI > 0.25 (the usual "major shift") or KS D > 0.3;
    and, once labels are in, a log loss significantly worse than the champion's (mSPRT, see ``ab.py``).
    """

    max_error_rate_increase: float = 0.01
    max_latency_p99_ms: float = 2000.0
    max_psi: float = 0.25
    max_ks: float = 0.3
    min_events: int = 50  # fewer events in the stage than this: nothing is judged yet
    label_alpha: float = 0.05
    label_min_n: int = 200


@dataclass(frozen=True)
class RolloutSpec:
    strategy: Strategy = "canary"
    stages: tuple[float, ...] = DEFAULT_STAGES  # percent of entities served the candidate
    min_duration_s: float = 300.0
    min_samples: int = 1000
    auto_promote: bool = False  # A/B: promote a significant winner (a canary always promotes at 100%)
    shadow_fraction: float = 1.0  # the tee's sample: the SRM check expects joined events in this share
    srm_alpha: float = 0.001
    ab_alpha: float = 0.05
    ab_min_n: int = 500
    guardrails: Guardrails = field(default_factory=Guardrails)

    def __post_init__(self) -> None:
        if not self.stages:
            raise RolloutSpecError("a rollout needs at least one stage")
        if any(not (0 < s <= 100) or not math.isfinite(s) for s in self.stages):
            raise RolloutSpecError("stages are percentages within (0, 100]")
        if list(self.stages) != sorted(set(self.stages)):
            raise RolloutSpecError("stages must increase (an entity served the candidate stays served)")
        if self.strategy == "canary" and self.stages[-1] != 100:
            raise RolloutSpecError("a canary's last stage is 100 (it ends with the candidate serving everyone)")
        if self.min_duration_s < 0 or self.min_samples < 0:
            raise RolloutSpecError("minimum duration and samples cannot be negative")
        if not 0 < self.shadow_fraction <= 1:
            raise RolloutSpecError("the shadow fraction is within (0, 1]")
        if self.stages[-1] / 100 > self.shadow_fraction + 1e-12:
            raise RolloutSpecError(
                f"stage {self.stages[-1]}% is above the shadow sample ({self.shadow_fraction:.0%}): "
                "some entities would be served a candidate prediction that was never computed"
            )

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "stages": list(self.stages)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RolloutSpec:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        guard_names = {f.name for f in fields(Guardrails)}
        values["guardrails"] = Guardrails(**{k: v for k, v in data.get("guardrails", {}).items() if k in guard_names})
        values["stages"] = tuple(float(s) for s in data.get("stages", DEFAULT_STAGES))
        return cls(**values)


def parse_stages(text: str) -> tuple[float, ...]:
    """``"1,5,25,50,100"`` -> (1.0, 5.0, 25.0, 50.0, 100.0)."""
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError as error:
        raise RolloutSpecError(f"stages must be comma-separated percentages, not {text!r}") from error
