"""Signals: what the processors emit, one record of schemas/avro/signals.avsc each, built from their reports.

Drift windows give one signal per column (metric ``ks:<feature>`` or ``chi2:<feature>``, value the test
statistic, evidence the p-values and effect sizes) and one ``drift:window`` summary (value: columns flagged).
Concept drift gives ``log_loss`` per version and window; promotion gives ``msprt:<loss>`` with the decision.
Evidence values are strings (the schema's map); numbers are written with repr precision.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # annotations only: importing them pulls in scipy, which `signals show` never needs
    from streams.drift import DriftPolicy, WindowReport
    from streams.performance import PerformanceReport
    from streams.promotion import PromotionReport

Kind = Literal["DRIFT", "PROMOTION", "ALERT"]


@dataclass(frozen=True)
class Signal:
    kind: Kind
    model: str
    metric: str
    value: float
    window_start: int  # epoch milliseconds
    window_end: int
    emitted_at: int
    version: int | None = None
    baseline_version: int | None = None
    threshold: float | None = None
    decision: str | None = None
    evidence: Mapping[str, str] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "model": self.model,
            "version": self.version,
            "baseline_version": self.baseline_version,
            "metric": self.metric,
            "value": float(self.value),
            "threshold": self.threshold,
            "decision": self.decision,
            "evidence": dict(self.evidence),
            "window_start": self.window_start,
            "window_end": self.window_end,
            "emitted_at": self.emitted_at,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Signal:
        fields = {k: record[k] for k in cls.__dataclass_fields__ if k in record}
        return cls(**fields)


def text(value: float | int | bool | str | None) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def drift_signals(
    model: str, version: int, source: str, report: WindowReport, policy: DriftPolicy, emitted_at: int
) -> list[Signal]:
    """Signals of one drift window; ``source`` is "features" or "score"."""

    def signal(metric: str, value: float, evidence: dict[str, str]) -> Signal:
        return Signal(
            "DRIFT",
            model,
            metric,
            value,
            report.start_ms,
            report.end_ms,
            emitted_at,
            version,
            threshold=policy.alpha,
            evidence=evidence,
        )

    summary = {
        "source": source,
        "events": text(report.events),
        "late_events": text(report.late_events),
        "tested": text(report.tested),
        "alpha": text(policy.alpha),
        "flagged": ",".join(report.flagged_columns),
    }
    signals = [signal(f"drift:{source}", float(sum(report.flagged)), summary)]
    for result, adjusted, flagged in zip(report.columns, report.adjusted_p, report.flagged, strict=True):
        evidence = {
            "test": result.test,
            "p_value": text(result.p_value),
            "p_holm": text(adjusted),
            "flagged": text(flagged),
            "n": text(result.n),
            "reference_n": text(result.reference_n),
            "psi": text(result.psi),
            "severity": policy.severity(result.psi),
            "invalid": text(result.invalid),
        }
        for name, value in (
            ("wasserstein_sd", result.wasserstein_sd),
            ("mean_shift_sd", result.mean_shift_sd),
            ("js_distance", result.js_distance),
        ):
            if value is not None:
                evidence[name] = text(value)
        signals.append(signal(result.metric, result.statistic, evidence))
    return signals


def performance_signal(model: str, version: int, report: PerformanceReport, alpha: float, emitted_at: int) -> Signal:
    m = report.metrics
    evidence = {
        "n": text(m.n),
        "positive_rate": text(m.positive_rate),
        "brier": text(m.brier),
        "auc": text(m.auc),
        "alarm": text(report.alarm),
    }
    if report.baseline is not None:
        evidence |= {
            "baseline_log_loss": text(report.baseline.log_loss),
            "baseline_auc": text(report.baseline.auc),
            "baseline_n": text(report.baseline.n),
            "degradation": text(report.degradation),
        }
    if report.p_value is not None:
        evidence["p_value"] = text(report.p_value)
    return Signal(
        "DRIFT",
        model,
        "log_loss",
        m.log_loss,
        report.start_ms,
        report.end_ms,
        emitted_at,
        version,
        threshold=alpha,
        evidence=evidence,
    )


def promotion_signal(
    model: str, loss: str, report: PromotionReport, alpha: float, emitted_at: int, extra: Mapping[str, str] = {}
) -> Signal:
    """``extra``: further evidence, e.g. the join's counts of predictions that never met their label."""
    r = report.result
    evidence = {
        **extra,
        "reason": report.reason,
        "n": text(r.n),
        "effect": text(r.mean),
        "relative_effect": text(report.relative_improvement),
        "ci_low": text(r.lower),
        "ci_high": text(r.upper),
        "p_value": text(r.p_value),
        "e_value": text(r.e_value),
        "champion_loss": text(report.champion_loss),
        "challenger_loss": text(report.challenger_loss),
        "alpha": text(alpha),
    }
    return Signal(
        "PROMOTION",
        model,
        f"msprt:{loss}",
        r.mean,
        report.first_time_ms,
        report.last_time_ms,
        emitted_at,
        report.challenger,
        report.champion,
        alpha,
        report.decision,
        evidence,
    )
