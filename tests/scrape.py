"""Reading a /metrics page as Prometheus would: prometheus_client's text parser, histogram_quantile's arithmetic."""

from __future__ import annotations

import math

import httpx
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


def scrape(url: str) -> list[Metric]:
    return list(text_string_to_metric_families(httpx.get(url, timeout=2).text))


def samples(families: list[Metric], name: str) -> list[Sample]:
    return [s for family in families for s in family.samples if s.name == name]


def _buckets(families: list[Metric], name: str) -> dict[float, float]:
    """Cumulative bucket counts by upper bound, summed over every label set (as ``sum by (le)`` does)."""
    counts: dict[float, float] = {}
    for sample in samples(families, f"{name}_bucket"):
        bound = float(sample.labels["le"])
        counts[bound] = counts.get(bound, 0.0) + sample.value
    return dict(sorted(counts.items()))


def bucket_bounds(families: list[Metric], name: str) -> list[float]:
    return list(_buckets(families, name))


def histogram_quantile(q: float, families: list[Metric], name: str) -> float:
    """Prometheus's histogram_quantile: find the bucket holding rank q·count, interpolate linearly inside it."""
    buckets = list(_buckets(families, name).items())
    if not buckets or buckets[-1][0] != math.inf:
        raise ValueError(f"{name}: no histogram with a +Inf bucket")
    total = buckets[-1][1]
    if total == 0:
        return math.nan
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == math.inf:
                return lower  # beyond the last finite bound: Prometheus answers that bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower
