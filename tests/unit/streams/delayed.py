"""A stream under the project's real label-delay model, for the decision simulations.

Events come from ``schemas.synthetic.TransactionGenerator`` (its true fraud probability, its labels and its
label delays: fraud after ~6 h, legitimate after ~2 days). Two models with the SAME expected log loss but
opposite calibration score them: the champion under-predicts fraud (log-odds - 1), the challenger
over-predicts by the shift that makes the expected losses equal under the labels seen by the horizon. A test
fed in label-arrival order sees fraud first and prefers the over-predicting challenger; a fair one does not.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats
from scipy.special import expit, logit

from schemas.synthetic import TransactionGenerator

HOUR_MS = 3_600_000
HORIZON_MS = 3 * 24 * HOUR_MS
UNDER = -1.0  # the champion's log-odds shift


@dataclass(frozen=True)
class Delayed:
    event_ids: list[str]
    entity_ids: list[str]
    event_times: np.ndarray  # int64 ms
    labels: np.ndarray  # int 0/1 truth
    label_times: np.ndarray  # int64 ms: event time + delay
    champion: np.ndarray
    challenger: np.ndarray


def observed_within_horizon(p: np.ndarray) -> np.ndarray:
    """P(a label of 1 by the horizon): fraud is reported by the horizon with the delay model's probability."""
    fraud_by_horizon = float(stats.lognorm.cdf(HORIZON_MS, 1.0, scale=6 * HOUR_MS))
    return np.asarray(p * fraud_by_horizon)


def expected_log_loss(p: np.ndarray, q: np.ndarray) -> float:
    return float(np.mean(-(p * np.log(q) + (1 - p) * np.log1p(-q))))


@functools.cache
def over_shift() -> float:
    """The challenger's log-odds shift with exactly the champion's expected log loss (on a large sample)."""
    p = TransactionGenerator(seed=99_999).generate(200_000).fraud_probability
    seen = observed_within_horizon(p)
    target = expected_log_loss(seen, expit(logit(p) + UNDER))
    return float(optimize.brentq(lambda s: expected_log_loss(seen, expit(logit(p) + s)) - target, 0.0, 5.0))


def delayed_stream(seed: int, n: int, over: float | None = None, events_per_s: float = 200.0) -> Delayed:
    batch = TransactionGenerator(seed=seed, events_per_s=events_per_s).generate(n)
    p = batch.fraud_probability
    shift = over_shift() if over is None else over
    times = np.array([r["event_time"] for r in batch.records], dtype=np.int64)
    return Delayed(
        [r["event_id"] for r in batch.records],
        [r["entity_id"] for r in batch.records],
        times,
        batch.labels.astype(np.int64),
        times + batch.label_delays_ms,
        expit(logit(p) + UNDER),
        expit(logit(p) + shift),
    )
