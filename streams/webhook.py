"""Alert webhook: a background thread POSTs JSON with retries and exponential backoff; the stream never waits.

``submit`` only puts the payload on a bounded queue and returns at once; when the queue is full the alert is
dropped and counted (a dead endpoint must not grow memory or stall a processor). Connection errors, timeouts,
429 and 5xx are retried up to ``retries`` times after ``backoff_s * 2^attempt`` seconds (capped, with jitter);
other 4xx answers are final. ``sleep`` and ``post`` are parameters so tests run without waiting.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

log = logging.getLogger(__name__)
_STOP = object()


@dataclass
class WebhookStats:
    delivered: int = 0
    failed: int = 0  # gave up after the retries, or a final 4xx
    dropped: int = 0  # queue full
    attempts: int = 0


class WebhookSender:
    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 5.0,
        retries: int = 5,
        backoff_s: float = 0.5,
        backoff_max_s: float = 30.0,
        queue_size: int = 1_000,
        sleep: Callable[[float], Any] | None = None,
        post: Callable[[str, dict[str, Any]], int] | None = None,
        on_outcome: Callable[[str], None] | None = None,
    ) -> None:
        self.url = url
        self.retries = retries
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.stats = WebhookStats()
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._stopping = threading.Event()
        self._sleep = sleep or self._stopping.wait  # an interruptible sleep: close() cuts a backoff short
        self._client = httpx.Client(timeout=timeout_s) if post is None else None
        self._post = post or self._http_post
        self._on_outcome = on_outcome or (lambda outcome: None)
        self._thread = threading.Thread(target=self._run, name="scorecast-webhook", daemon=True)
        self._thread.start()

    def submit(self, payload: dict[str, Any]) -> bool:
        """Queue one alert; False (and counted) if the queue is full. Never blocks."""
        try:
            self._queue.put_nowait(payload)
            return True
        except queue.Full:
            self.stats.dropped += 1
            self._on_outcome("dropped")
            log.warning("alert webhook queue full (%d): alert dropped", self._queue.maxsize)
            return False

    def close(self, timeout_s: float = 10.0) -> None:
        """Deliver what is queued within ``timeout_s``, then stop the thread."""
        deadline = time.monotonic() + timeout_s
        with contextlib.suppress(queue.Full):
            self._queue.put(_STOP, timeout=timeout_s)
        self._thread.join(max(0.0, deadline - time.monotonic()))
        self._stopping.set()
        self._thread.join(1.0)
        if self._client is not None:
            self._client.close()

    def _run(self) -> None:
        while True:
            payload = self._queue.get()
            if payload is _STOP:
                return
            self._deliver(payload)

    def _deliver(self, payload: dict[str, Any]) -> None:
        for attempt in range(self.retries + 1):
            self.stats.attempts += 1
            try:
                status = self._post(self.url, payload)
            except httpx.HTTPError as error:
                status, detail = 0, f"{type(error).__name__}: {error}"
            else:
                detail = f"HTTP {status}"
            if 200 <= status < 300:
                self.stats.delivered += 1
                self._on_outcome("delivered")
                return
            if 400 <= status < 500 and status != 429:
                break  # the endpoint refuses this payload: retrying cannot help
            if attempt < self.retries and not self._stopping.is_set():
                delay = min(self.backoff_max_s, self.backoff_s * 2**attempt) * (0.5 + random.random() / 2)
                log.info("alert webhook attempt %d failed (%s); retrying in %.2fs", attempt + 1, detail, delay)
                self._sleep(delay)
        self.stats.failed += 1
        self._on_outcome("failed")
        log.warning("alert webhook gave up on %s: %s", self.url, detail)

    def _http_post(self, url: str, payload: dict[str, Any]) -> int:
        assert self._client is not None
        return self._client.post(url, json=payload).status_code
