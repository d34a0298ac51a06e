"""Everything a backtest found, computed once from the merged results; the HTML report and the terminal
summary only present it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scorers.registry import ModelVersion
from scorers.replay.metrics import (
    Calibration,
    Drift,
    Memo,
    Metrics,
    calibration,
    feature_drift,
    over_time,
    score_drift,
    slice_edges,
)
from scorers.replay.ranges import ReplayRange
from scorers.replay.results import Backtest

Key = tuple[str, int]


@dataclass(frozen=True)
class Findings:
    stream: str
    range: ReplayRange
    horizon_ms: int
    versions: list[Key]
    events: int  # scored events
    rejects: dict[str, int]
    unreadable_labels: int
    labelled: int
    overall: dict[Key, Metrics]
    edges: np.ndarray  # event-time slice edges, epoch ms
    over_time: dict[Key, list[Metrics]]
    calibration: dict[Key, Calibration | None]
    score_samples: dict[Key, np.ndarray]  # a fixed, evenly spaced subsample for the distribution plot
    feature_drift: dict[Key, Drift | None] = field(default_factory=dict)  # None: no reference profile
    drift_reference: dict[Key, Key] = field(default_factory=dict)  # version -> first version of same reference
    score_drift: dict[Key, Drift | None] = field(default_factory=dict)
    seconds: float = 0.0  # wall time of the replay (read, score, merge, metrics)


def find(
    stream: str,
    replay: ReplayRange,
    horizon_ms: int,
    backtest: Backtest,
    metas: list[ModelVersion],
    slices: int = 12,
    memo: Memo | None = None,
) -> Findings:
    """``memo`` keeps drift results by their inputs (drift_memo.DriftMemo.drift) for later backtests."""
    keys = [(m.model, m.version) for m in metas]
    edges = slice_edges(backtest.event_times, slices)
    step = max(1, len(backtest) // 50_000)
    measured = over_time(backtest, edges)
    findings = Findings(
        stream=stream,
        range=replay,
        horizon_ms=horizon_ms,
        versions=keys,
        events=len(backtest),
        rejects=backtest.rejects,
        unreadable_labels=backtest.unreadable_labels,
        labelled=int(backtest.known.sum()),
        overall={k: measured[k][0] for k in keys},
        edges=edges,
        over_time={k: measured[k][1] for k in keys},
        calibration={k: calibration(backtest.scores[k], backtest.labels, backtest.known) for k in keys},
        score_samples={k: backtest.scores[k][::step] for k in keys},
    )
    seen: dict[str, Key] = {}
    for meta, key in zip(metas, keys, strict=True):
        profile = meta.reference_profile
        if profile is None:
            findings.feature_drift[key] = findings.score_drift[key] = None
            continue
        reference = repr((meta.feature_spec, profile.numeric, profile.categorical))
        first = seen.setdefault(reference, key)
        findings.drift_reference[key] = first
        if first == key:  # versions trained on the same data share one feature reference: compare it once
            findings.feature_drift[key] = feature_drift(backtest, edges, meta.feature_spec, profile, memo)
        else:
            findings.feature_drift[key] = findings.feature_drift[first]
        if profile.score is not None:
            scores = backtest.scores[key]
            findings.score_drift[key] = score_drift(scores, backtest.event_times, edges, profile.score, memo)
        else:
            findings.score_drift[key] = None
    return findings
