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
    """What rolls a candidate back, each a test with a stated error rate (``guardrails.py``).

    Checked on the candidate's and the champion's predictions of the same events, each stage afresh:
    the candidate's error rate (dead letters of its path per event) more than ``max_error_rate_increase``
    above the champion's; more than 1% of the candidate's produce-to-scored latencies over
    ``max_latency_p99_ms`` (its p99 over the limit); its score distribution further than ``max_ks`` (KS
    distance) from the champion's. Each is judged only with ``min_events`` events per arm, at looks that
    double the sample, on confidence bounds, so a candidate that breaks none of them is rolled back by these
    checks with probability at most ``alpha`` over the whole rollout. And, on the rollout's events whose label
    horizon has closed, a log loss worse than the champion's (mSPRT at ``label_alpha``, from
    ``label_min_n`` events).
    """

    max_error_rate_increase: float = 0.01
    max_latency_p99_ms: float = 2000.0
    max_ks: float = 0.3
    min_events: int = 200  # per arm, before any judgement
    alpha: float = 0.01  # false rollbacks by the error, latency and score checks, all stages together
    label_alpha: float = 0.05
    label_min_n: int = 500  # events with a closed label horizon before the label check (and a last stage)


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
    # The label horizon (streams.join): an event counts in the label tests once this long has passed since
    # it, with its label or ``default_label``; the price of decisions that late labels cannot bias.
    label_horizon_s: float = 3 * 86400.0
    label_lateness_s: float = 3600.0  # how far out of label-time order the labels topic may be
    default_label: int = 0
    # A canary reaches its last stage (and promotes) only once the label check has label_min_n events,
    # unless the operator waives it: scores and latencies alone cannot tell a useless model from a good one.
    without_labels: bool = False

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
        if self.label_horizon_s <= 0 or self.label_lateness_s < 0:
            raise RolloutSpecError("the label horizon must be positive and the lateness non-negative")
        rails = self.guardrails
        if not (0 < rails.alpha < 1 and 0 < rails.label_alpha < 1) or rails.min_events < 1:
            raise RolloutSpecError("guardrail alphas are within (0, 1) and min_events at least 1")
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
