"""A sequential test of a mean that may be checked after every observation: mixture SPRT (mSPRT).

Input: one number per paired observation, positive when the candidate did better (for promotion, the
champion's loss minus the challenger's loss on the same event). The test keeps the running mean and variance
and, after each observation, the normal-mixture likelihood ratio against "mean = 0"

    Lambda_n = (1 + n rho^2)^(-1/2) * exp(n^2 rho^2 mean^2 / (2 sigma^2 (1 + n rho^2)))

(Robbins' mixture, as in Johari et al., "Always valid inference", 2017). Inverting it gives the confidence
sequence mean +/- sigma * sqrt(2 (n rho^2 + 1) / (n^2 rho^2) * log(sqrt(n rho^2 + 1) / alpha)), the asymptotic
confidence sequence of Waudby-Smith et al. (2021) with the sample variance plugged in: with probability at
least 1 - alpha it holds at every n at once, so the test may be looked at continuously and stopped at any
time. ``rho`` is tuned so the sequence is tightest at ``design_n`` observations; ``min_n`` is a burn-in that
lets the variance estimate settle before any decision. The always-valid p-value is min(1, min_k 1/Lambda_k)
and Lambda_n is the e-value. Verdicts: BETTER when the whole sequence is above 0, WORSE when below 0,
FUTILE when it is below ``margin`` (improvement too small to matter) or after ``max_n`` observations.
The same class serves A/B rollouts: feed it any paired per-unit difference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np


class Verdict(StrEnum):
    CONTINUE = "continue"
    BETTER = "better"
    WORSE = "worse"
    FUTILE = "futile"


@dataclass(frozen=True)
class SequentialConfig:
    alpha: float = 0.05
    design_n: int = 10_000  # the sequence is tightest here; rho follows from it
    min_n: int = 1_000  # burn-in: no verdict before this many observations
    margin: float = 0.0  # smallest improvement worth acting on; > 0 enables the futility stop
    max_n: int | None = None  # stop as FUTILE when reached without a verdict

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1 or self.design_n < 1 or self.min_n < 2 or self.margin < 0:
            raise ValueError("need 0 < alpha < 1, design_n >= 1, min_n >= 2, margin >= 0")

    @property
    def rho2(self) -> float:
        """Mixture variance (in units of sigma^2) minimising the sequence's width at design_n."""
        log_a = -2.0 * math.log(self.alpha)
        return (log_a + math.log(log_a + 1.0)) / self.design_n


@dataclass(frozen=True)
class SequentialResult:
    n: int
    mean: float
    std: float
    lower: float  # confidence sequence at level 1 - alpha (-inf/inf before the burn-in)
    upper: float
    p_value: float  # always valid: the running minimum over every look
    e_value: float  # Lambda_n
    verdict: Verdict
    stopped_at: int | None = None


@dataclass
class MixtureSPRT:
    config: SequentialConfig = field(default_factory=SequentialConfig)
    n: int = 0
    mean: float = 0.0
    m2: float = 0.0  # sum of squared deviations from the mean (Welford)
    p_value: float = 1.0
    verdict: Verdict = Verdict.CONTINUE
    stopped_at: int | None = None

    def update(self, x: np.ndarray) -> SequentialResult:
        """Add observations in order, checking after each one; stops (and ignores the rest) at a verdict."""
        x = np.asarray(x, dtype=np.float64)
        if self.verdict is not Verdict.CONTINUE or len(x) == 0:
            return self.result()
        n0, mean0, m20 = self.n, self.mean, self.m2
        n = n0 + np.arange(1, len(x) + 1)
        shifted = np.cumsum(x - mean0)  # deviations from the old mean: no cancellation in long runs
        means = mean0 + shifted / n
        m2s = m20 + np.cumsum(np.square(x - mean0)) - np.square(shifted) / n
        log_lr, half = self._boundary(n, means, m2s)
        looked = n >= self.config.min_n
        verdicts = np.full(len(x), 0)
        verdicts[looked & (means - half > 0)] = 1
        verdicts[looked & (means + half < 0)] = 2
        if self.config.margin > 0:
            verdicts[looked & (verdicts == 0) & (means + half < self.config.margin)] = 3
        if self.config.max_n is not None:
            verdicts[(verdicts == 0) & (n >= self.config.max_n)] = 3
        decided = np.flatnonzero(verdicts)
        last = int(decided[0]) if len(decided) else len(x) - 1
        if looked[: last + 1].any():
            best = float(np.max(log_lr[: last + 1][looked[: last + 1]]))
            self.p_value = min(self.p_value, math.exp(-best) if best > 0 else 1.0)
        self.n, self.mean, self.m2 = int(n[last]), float(means[last]), float(m2s[last])
        if len(decided):
            self.verdict = (Verdict.CONTINUE, Verdict.BETTER, Verdict.WORSE, Verdict.FUTILE)[int(verdicts[last])]
            self.stopped_at = self.n
            if self.verdict in (Verdict.BETTER, Verdict.WORSE):
                # The sequence excluding 0 and Lambda >= 1/alpha are the same event; keep rounding from
                # reporting p = 0.0500000001 beside a rejection at 0.05.
                self.p_value = min(self.p_value, self.config.alpha)
        return self.result()

    def _boundary(self, n: np.ndarray, means: np.ndarray, m2s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """log Lambda_n at mean 0 and the confidence sequence's half-width, for each n."""
        rho2 = self.config.rho2
        variance = np.maximum(m2s / np.maximum(n - 1, 1), 1e-300)
        spread = 1.0 + n * rho2
        log_lr = np.square(n * means) * rho2 / (2.0 * variance * spread) - 0.5 * np.log(spread)
        log_boundary = 0.5 * np.log(spread) - math.log(self.config.alpha)
        half = np.sqrt(variance * 2.0 * spread / (np.square(n) * rho2) * log_boundary)
        return log_lr, half

    def result(self) -> SequentialResult:
        if self.n < 2:
            return SequentialResult(self.n, self.mean, 0.0, -math.inf, math.inf, 1.0, 1.0, self.verdict)
        n = np.array([self.n])
        log_lr, half = self._boundary(n, np.array([self.mean]), np.array([self.m2]))
        burnt_in = self.n >= self.config.min_n
        return SequentialResult(
            n=self.n,
            mean=self.mean,
            std=math.sqrt(self.m2 / (self.n - 1)),
            lower=self.mean - float(half[0]) if burnt_in else -math.inf,
            upper=self.mean + float(half[0]) if burnt_in else math.inf,
            p_value=self.p_value,
            e_value=math.exp(min(float(log_lr[0]), 700.0)),
            verdict=self.verdict,
            stopped_at=self.stopped_at,
        )

    def state(self) -> dict[str, Any]:
        """What a checkpoint needs to resume exactly where this test stands."""
        return {
            "n": self.n,
            "mean": self.mean,
            "m2": self.m2,
            "p_value": self.p_value,
            "verdict": self.verdict.value,
            "stopped_at": self.stopped_at,
        }

    @classmethod
    def resume(cls, config: SequentialConfig, state: dict[str, Any]) -> MixtureSPRT:
        return cls(
            config,
            int(state["n"]),
            float(state["mean"]),
            float(state["m2"]),
            float(state["p_value"]),
            Verdict(state["verdict"]),
            state.get("stopped_at"),
        )
