"""The shadow report's numbers: every challenger against the champion on their joined rows.

Per (champion version, challenger version) pair over a time range of event time: decision agreement and
flips at the thresholds (0.5 for both by default; with ``top_rate`` each model's own (1 - top_rate) score
quantile, so both flag the same share of events), Pearson and Spearman correlation of the scores (scipy),
score and latency distributions, and, on the events that have a label on the labels topic, AUC (DeLong
intervals), log loss, Brier, precision and recall (paired percentile bootstrap), for each model and as
challenger - champion differences. Everything is computed from the stored joined rows, so a direct
computation on the same rows gives the same numbers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from scorecast.io.cassandra import cassandra_session
from scorecast.settings import Settings
from shadow.labels import read_labels
from shadow.results import JoinedColumns, ResultsReader
from shadow.stats import Agreement, LabelledMetrics, agreement, labelled_metrics, thresholds_for

_FAR_FUTURE_MS = 2**62


@dataclass(frozen=True)
class ReportConfig:
    model: str
    stream: str
    since_ms: int | None = None  # event time, inclusive
    until_ms: int | None = None  # event time, exclusive
    threshold: float = 0.5
    top_rate: float | None = None
    confidence: float = 0.95
    resamples: int = 1000
    seed: int = 0


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float
    p50: float
    p95: float
    p99: float

    @classmethod
    def of(cls, values: np.ndarray) -> Summary | None:
        values = values[np.isfinite(values)]
        if not len(values):
            return None
        p50, p95, p99 = np.quantile(values, [0.5, 0.95, 0.99])
        return cls(len(values), float(values.mean()), float(p50), float(p95), float(p99))


@dataclass(frozen=True)
class Comparison:
    champion_version: int
    challenger_version: int
    rows: JoinedColumns
    labels: np.ndarray  # aligned with rows: 0 or 1, -1 where no label was found
    thresholds: tuple[float, float]  # (champion, challenger)
    agreement: Agreement
    pearson: tuple[float, float]  # (r, p-value)
    spearman: tuple[float, float]
    champion_scores: Summary
    challenger_scores: Summary
    champion_latency_ms: Summary | None
    challenger_latency_ms: Summary | None
    labelled: int
    positives: int
    metrics: LabelledMetrics | None  # None unless the labelled rows hold both classes


@dataclass(frozen=True)
class ShadowReport:
    config: ReportConfig
    comparisons: list[Comparison]
    labels_read: int
    labels_undecodable: int
    generated_at_ms: int


def compare(rows: JoinedColumns, labels: dict[str, int], config: ReportConfig) -> list[Comparison]:
    """One comparison per champion version that the challenger's rows were joined with (pure; no I/O)."""
    out = []
    for champion_version in sorted(set(rows.champion_versions.tolist())):
        part = rows.select(rows.champion_versions == champion_version)
        out.append(_compare(part, champion_version, labels, config))
    return out


def _compare(rows: JoinedColumns, champion_version: int, labels: dict[str, int], config: ReportConfig) -> Comparison:
    a, b = rows.champion_scores, rows.challenger_scores
    thresholds = thresholds_for(a, b, config.threshold, config.top_rate)
    y = np.array([labels.get(e, -1) for e in rows.event_ids], dtype=np.int64)
    known = y >= 0
    positives = int((y == 1).sum())
    metrics = None
    if 0 < positives < int(known.sum()):
        metrics = labelled_metrics(
            y[known], a[known], b[known], thresholds, config.confidence, config.resamples, config.seed
        )
    champion_scores, challenger_scores = Summary.of(a), Summary.of(b)
    assert champion_scores is not None  # a comparison has rows, and scores are finite
    assert challenger_scores is not None
    return Comparison(
        champion_version=champion_version,
        challenger_version=rows.challenger_version,
        rows=rows,
        labels=y,
        thresholds=thresholds,
        agreement=agreement(a, b, thresholds),
        pearson=_correlation(stats.pearsonr, a, b),
        spearman=_correlation(stats.spearmanr, a, b),
        champion_scores=champion_scores,
        challenger_scores=challenger_scores,
        champion_latency_ms=Summary.of(rows.champion_latency_ms),
        challenger_latency_ms=Summary.of(rows.challenger_latency_ms),
        labelled=int(known.sum()),
        positives=positives,
        metrics=metrics,
    )


def _correlation(test: Callable[[np.ndarray, np.ndarray], Any], a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan"), float("nan")  # undefined for constant scores
    result = test(a, b)
    return float(result.statistic), float(result.pvalue)


def build_report(settings: Settings, config: ReportConfig) -> ShadowReport:
    """Read every challenger's joined rows in the range and the labels of their events; compare."""
    since = config.since_ms if config.since_ms is not None else -_FAR_FUTURE_MS
    until = config.until_ms if config.until_ms is not None else _FAR_FUTURE_MS
    with cassandra_session(settings) as session:
        reader = ResultsReader(session, settings.keyspace)
        joined = [
            reader.read(config.model, version, buckets, since, until)
            for version, buckets in sorted(reader.partitions(config.model).items())
        ]
    joined = [rows for rows in joined if len(rows)]
    event_ids = {e for rows in joined for e in rows.event_ids}
    labels = read_labels(settings, config.stream, event_ids)
    comparisons = [c for rows in joined for c in compare(rows, labels.by_event, config)]
    return ShadowReport(config, comparisons, labels.read, labels.undecodable, int(time.time() * 1000))
