"""Per-key token buckets: ``rate`` requests a second on average, bursts of up to ``burst``.

Buckets live in the process, so with N worker processes each enforces ``rate / N`` (see ApiSettings.workers);
that is exact only when connections spread evenly over the workers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    rate: float
    burst: float
    tokens: float = field(init=False)
    stamp: float | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.tokens = self.burst

    def take(self, now: float) -> float:
        """Take one token; returns 0.0 when allowed, else the seconds until a token is there."""
        if self.stamp is not None:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class RateLimiter:
    """One bucket per key id; a key's bucket is rebuilt when its configured rate changes."""

    def __init__(self, share: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._share = share  # fraction of each key's rate this process enforces
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def check(self, key_id: str, rate_rps: float) -> float:
        """0.0 if the request may go on, else seconds to wait. A rate of 0 means unlimited."""
        if rate_rps <= 0:
            return 0.0
        rate = rate_rps * self._share
        bucket = self._buckets.get(key_id)
        if bucket is None or bucket.rate != rate:
            # one second of traffic as burst, and at least one request, so a slow key is never locked out
            bucket = self._buckets[key_id] = TokenBucket(rate=rate, burst=max(1.0, rate))
        return bucket.take(self._clock())


def retry_after_header(wait_s: float) -> str:
    """Retry-After is whole seconds (RFC 9110); round up so a client that obeys it is not refused again."""
    return str(max(1, math.ceil(wait_s)))
