"""Token buckets: the average rate and the burst are honoured, and Retry-After never undershoots."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lookup_api.ratelimit import RateLimiter, TokenBucket, retry_after_header


def test_bucket_allows_a_burst_then_refuses_until_refilled() -> None:
    bucket = TokenBucket(rate=2.0, burst=2.0)
    assert bucket.take(10.0) == 0.0
    assert bucket.take(10.0) == 0.0
    assert bucket.take(10.0) == pytest.approx(0.5)  # one token takes 1/rate seconds to come back
    assert bucket.take(10.25) == pytest.approx(0.25)
    assert bucket.take(10.5) == 0.0


def test_bucket_never_holds_more_than_its_burst() -> None:
    bucket = TokenBucket(rate=1.0, burst=3.0)
    bucket.take(0.0)
    allowed = sum(bucket.take(1000.0) == 0.0 for _ in range(10))
    assert allowed == 3


@given(rate=st.floats(0.5, 500), seconds=st.integers(1, 20))
def test_admitted_requests_never_exceed_burst_plus_rate_times_time(rate: float, seconds: int) -> None:
    limiter = RateLimiter(clock=lambda: now)
    now, admitted = 0.0, 0
    steps = seconds * 100
    for step in range(steps + 1):
        now = step / 100
        admitted += limiter.check("k", rate) == 0.0
    assert admitted <= max(1.0, rate) + rate * seconds + 1


def test_zero_rate_is_unlimited_and_keys_are_independent() -> None:
    limiter = RateLimiter(clock=lambda: 0.0)
    assert all(limiter.check("free", 0) == 0.0 for _ in range(1000))
    assert limiter.check("a", 1) == 0.0
    assert limiter.check("a", 1) > 0
    assert limiter.check("b", 1) == 0.0


def test_share_divides_the_rate_between_workers() -> None:
    limiter = RateLimiter(share=0.5, clock=lambda: 0.0)
    assert limiter.check("k", 4) == 0.0  # rate 2, burst 2
    assert limiter.check("k", 4) == 0.0
    assert limiter.check("k", 4) == pytest.approx(0.5)


def test_a_changed_rate_takes_effect() -> None:
    limiter = RateLimiter(clock=lambda: 0.0)
    assert limiter.check("k", 1) == 0.0
    assert limiter.check("k", 1) > 0
    assert limiter.check("k", 10) == 0.0


@pytest.mark.parametrize(("wait", "header"), [(0.001, "1"), (0.5, "1"), (1.0, "1"), (1.01, "2"), (7.9, "8")])
def test_retry_after_is_whole_seconds_rounded_up(wait: float, header: str) -> None:
    assert retry_after_header(wait) == header
