"""Alert rules (edge-triggered), the fan-out to log and metric, and the webhook sender's retries and bounds."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from streams.alerts import Alert, Alerter, AlertRules
from streams.drift import WindowReport
from streams.drift_stats import ColumnResult
from streams.webhook import WebhookSender


def report(start: int, flagged: dict[str, bool]) -> WindowReport:
    columns = tuple(
        ColumnResult(name, "ks", 1_000, 10_000, 0.1, 0.001 if f else 0.5, 0.2 if f else 0.01, 0.1, 0.0, None, 0)
        for name, f in flagged.items()
    )
    return WindowReport(
        start, start + 1_000, 1_000, 0, True, columns, tuple(0.01 for _ in columns), tuple(flagged.values())
    )


def test_drift_alerts_fire_when_a_column_is_newly_flagged_not_every_window() -> None:
    rules = AlertRules()
    assert rules.drift("m", 1, "features", report(0, {"a": False, "b": False})) == []
    (first,) = rules.drift("m", 1, "features", report(1_000, {"a": True, "b": False}))
    assert first.evidence["columns"] == "a"
    assert "a (p=0.001, psi=0.200)" in first.message
    assert rules.drift("m", 1, "features", report(2_000, {"a": True, "b": False})) == []  # still drifting
    (second,) = rules.drift("m", 1, "features", report(3_000, {"a": True, "b": True}))
    assert second.evidence["columns"] == "b"
    assert rules.drift("m", 1, "features", report(4_000, {"a": False, "b": False})) == []  # cleared
    assert len(rules.drift("m", 1, "features", report(5_000, {"a": True, "b": False}))) == 1  # back again
    assert len(rules.drift("m", 2, "features", report(5_000, {"a": True, "b": False}))) == 1  # per version


class FakeWebhook:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def submit(self, payload: dict[str, Any]) -> bool:
        self.sent.append(payload)
        return True

    def close(self) -> None:
        pass


def test_an_alert_is_a_log_line_a_metric_and_a_webhook_call(caplog: pytest.LogCaptureFixture) -> None:
    reader = InMemoryMetricReader()
    hook = FakeWebhook()
    alerter = Alerter(hook, MeterProvider(metric_readers=[reader]).get_meter("test"))  # type: ignore[arg-type]
    alert = Alert(
        "fraud", "drift", "drift:features", "drift in features of fraud v3: amount", 0, 1_000, 3, {"columns": "amount"}
    )
    with caplog.at_level(logging.WARNING, logger="scorecast.alerts"):
        alerter.fire([alert, alert])
    assert [r.getMessage() for r in caplog.records] == ["ALERT drift in features of fraud v3: amount"] * 2
    assert hook.sent == [alert.payload(), alert.payload()]
    data = reader.get_metrics_data()
    assert data is not None
    points = [
        p
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == "scorecast_alerts"
        for p in m.data.data_points
    ]
    assert [(dict(p.attributes or {}), getattr(p, "value", None)) for p in points] == [
        ({"model": "fraud", "kind": "drift", "metric": "drift:features"}, 2)
    ]
    signal = alert.signal(5)
    assert (signal.kind, signal.metric, signal.version, signal.evidence["columns"]) == (
        "ALERT",
        "drift:features",
        3,
        "amount",
    )


def sender(answers: list[int | Exception], **kwargs: Any) -> tuple[WebhookSender, list[float], list[dict[str, Any]]]:
    delays: list[float] = []
    posted: list[dict[str, Any]] = []

    def post(url: str, payload: dict[str, Any]) -> int:
        posted.append(payload)
        answer = answers.pop(0) if answers else 200
        if isinstance(answer, Exception):
            raise answer
        return answer

    return WebhookSender("http://hook", post=post, sleep=delays.append, **kwargs), delays, posted


def test_the_webhook_retries_errors_with_growing_backoff_until_delivered() -> None:
    hook, delays, posted = sender([503, httpx.ConnectError("refused"), 429], backoff_s=0.5, backoff_max_s=10)
    hook.submit({"n": 1})
    hook.close()
    assert hook.stats.delivered == 1
    assert hook.stats.attempts == 4
    assert len(posted) == 4
    # 0.5 * 2^k with jitter in [50%, 100%]
    for k, delay in enumerate(delays):
        assert 0.5 * 2**k * 0.5 <= delay <= 0.5 * 2**k


def test_the_webhook_gives_up_after_its_retries_and_on_a_final_4xx() -> None:
    hook, delays, _ = sender([500, 500, 500, 400], retries=2)
    hook.submit({"n": 1})
    hook.submit({"n": 2})
    hook.close()
    assert hook.stats.failed == 2
    assert hook.stats.delivered == 0
    assert hook.stats.attempts == 4  # 1 + 2 retries, then a 400 that is not retried
    assert len(delays) == 2


def test_submit_never_blocks_and_drops_beyond_the_queue() -> None:
    release = threading.Event()

    def slow_post(url: str, payload: dict[str, Any]) -> int:
        release.wait(5)
        return 200

    hook = WebhookSender("http://hook", post=slow_post, queue_size=2)
    started = time.monotonic()
    accepted = [hook.submit({"n": i}) for i in range(10)]
    assert time.monotonic() - started < 2.0  # a hung endpoint does not hold the caller (it would for seconds)
    assert accepted.count(False) >= 7  # one in flight, two queued, the rest dropped and counted
    assert hook.stats.dropped == accepted.count(False)
    release.set()
    hook.close()
    assert hook.stats.delivered == accepted.count(True)
