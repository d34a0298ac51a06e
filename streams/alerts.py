"""Alerts: when a threshold is crossed, one log line, one metric increment, one webhook call, one ALERT signal.

``AlertRules`` decides what is an alert, edge-triggered so a drift that lasts does not page every window:
a drift alert names the columns newly flagged (a column that clears and comes back alerts again); a concept
drift alert fires on each alarming window; a promotion alert on each PROMOTE or REJECT decision.
``Alerter`` fans an alert out; the webhook runs in its own thread (streams.webhook) and never blocks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import metrics

from scorecast.telemetry import get_meter
from streams.drift import WindowReport
from streams.performance import PerformanceReport
from streams.promotion import PromotionReport
from streams.signals import Signal, text
from streams.webhook import WebhookSender

log = logging.getLogger("scorecast.alerts")


@dataclass(frozen=True)
class Alert:
    model: str
    kind: str  # drift, concept, promotion
    metric: str
    message: str
    window_start: int
    window_end: int
    version: int | None = None
    evidence: dict[str, str] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        return {
            "source": "scorecast",
            "model": self.model,
            "version": self.version,
            "kind": self.kind,
            "metric": self.metric,
            "message": self.message,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "evidence": self.evidence,
        }

    def signal(self, emitted_at: int) -> Signal:
        return Signal(
            "ALERT",
            self.model,
            self.metric,
            1.0,
            self.window_start,
            self.window_end,
            emitted_at,
            self.version,
            evidence={"kind": self.kind, "message": self.message, **self.evidence},
        )


class AlertRules:
    def __init__(self) -> None:
        self._flagged: dict[tuple[str, int, str], set[str]] = {}

    def drift(self, model: str, version: int, source: str, report: WindowReport) -> list[Alert]:
        key = (model, version, source)
        before = self._flagged.get(key, set())
        now = set(report.flagged_columns) if report.tested else before
        self._flagged[key] = now
        raised = sorted(now - before)
        if not raised:
            return []
        details = {c.name: c for c in report.columns}
        parts = [f"{n} (p={details[n].p_value:.2g}, psi={details[n].psi:.3f})" for n in raised]
        message = f"drift in {source} of {model} v{version}: " + ", ".join(parts)
        evidence = {"columns": ",".join(raised), "events": text(report.events)}
        return [Alert(model, "drift", f"drift:{source}", message, report.start_ms, report.end_ms, version, evidence)]

    def concept(self, model: str, version: int, report: PerformanceReport) -> list[Alert]:
        if not report.alarm or report.baseline is None:
            return []
        message = (
            f"performance of {model} v{version} decayed: log loss {report.metrics.log_loss:.4f} vs "
            f"{report.baseline.log_loss:.4f} (p={report.p_value:.2g}, n={report.metrics.n})"
        )
        evidence = {"p_value": text(report.p_value), "degradation": text(report.degradation)}
        return [Alert(model, "concept", "log_loss", message, report.start_ms, report.end_ms, version, evidence)]

    def promotion(self, model: str, report: PromotionReport) -> list[Alert]:
        if report.decision == "HOLD":
            return []
        r = report.result
        message = (
            f"{report.decision} {model} v{report.challenger} against champion v{report.champion} "
            f"({report.reason}): loss change {r.mean:+.5f} per event, CI [{r.lower:.5f}, {r.upper:.5f}], "
            f"n={r.n}, p={r.p_value:.2g}"
        )
        evidence = {"decision": report.decision, "champion": text(report.champion), "p_value": text(r.p_value)}
        return [
            Alert(
                model,
                "promotion",
                "promotion",
                message,
                report.first_time_ms,
                report.last_time_ms,
                report.challenger,
                evidence,
            )
        ]


class Alerter:
    """Fans alerts out to the log, an OpenTelemetry counter and the webhook (queued, never waited on)."""

    def __init__(self, webhook: WebhookSender | None = None, meter: metrics.Meter | None = None) -> None:
        self.webhook = webhook
        meter = meter or get_meter("scorecast.streams")
        self._alerts = meter.create_counter("scorecast_alerts", unit="1", description="alerts raised")

    def fire(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            log.warning("ALERT %s", alert.message)
            self._alerts.add(1, {"model": alert.model, "kind": alert.kind, "metric": alert.metric})
            if self.webhook is not None:
                self.webhook.submit(alert.payload())

    def close(self) -> None:
        if self.webhook is not None:
            self.webhook.close()
