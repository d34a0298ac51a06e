"""histogram_quantile on a parsed exposition, checked against known distributions."""

from __future__ import annotations

import math

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.scrape import histogram_quantile

pytestmark = pytest.mark.unit


def _families(buckets: dict[str, int]) -> list:  # type: ignore[type-arg]
    lines = ["# TYPE d_seconds histogram"]
    lines += [f'd_seconds_bucket{{le="{le}"}} {count}' for le, count in buckets.items()]
    lines += [f"d_seconds_count {max(buckets.values())}", "d_seconds_sum 1"]
    return list(text_string_to_metric_families("\n".join(lines) + "\n"))


def test_quantile_interpolates_inside_the_bucket_as_prometheus_does() -> None:
    families = _families({"0.001": 50, "0.01": 90, "0.1": 100, "+Inf": 100})
    assert histogram_quantile(0.5, families, "d_seconds") == pytest.approx(0.001)
    assert histogram_quantile(0.7, families, "d_seconds") == pytest.approx(0.001 + 0.009 * 0.5)
    assert histogram_quantile(0.99, families, "d_seconds") == pytest.approx(0.01 + 0.09 * 0.9)


def test_quantile_in_the_inf_bucket_is_the_last_finite_bound() -> None:
    families = _families({"0.001": 10, "+Inf": 100})
    assert histogram_quantile(0.99, families, "d_seconds") == 0.001
    assert math.isnan(histogram_quantile(0.5, _families({"0.001": 0, "+Inf": 0}), "d_seconds"))
