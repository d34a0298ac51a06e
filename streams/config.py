"""Windows, thresholds and alert routes of the stream processors, per model.

A config file (TOML or JSON) has a ``[defaults]`` table and optional ``[models.<name>]`` tables that override
any of its fields; without a file every model gets the defaults below::

    [defaults.drift]
    window_s = 300
    false_alarms_per_day = 0.05   # or a fixed per-window level: alpha = 0.001

    [models.fraud.drift]
    window_s = 60
    slide_s = 15

    [models.fraud.alerts]
    webhook_url = "https://hooks.example.com/scorecast"
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from scorecast.errors import ScorecastError

DAY_S = 86_400.0
_FIXED_ALPHA = "false-alarm probability of a window; unset: from the daily budget"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class DriftOptions(_Frozen):
    window_s: float = Field(default=300.0, gt=0, description="window length in event time")
    slide_s: float | None = Field(default=None, gt=0, description="slide of sliding windows; unset: tumbling")
    lateness_s: float = Field(default=30.0, ge=0, description="how late an event may be and still count")
    false_alarms_per_day: float = Field(
        default=0.05, gt=0, lt=1, description="share of drift-free days allowed a false alarm (both sources together)"
    )
    fixed_alpha: float | None = Field(default=None, alias="alpha", gt=0, lt=1, description=_FIXED_ALPHA)
    min_events: int = Field(default=200, ge=2, description="smaller windows are reported, not tested")
    min_psi: float = Field(default=0.0, ge=0, description="a significant column alarms only with at least this PSI")
    psi_moderate: float = 0.1
    psi_major: float = 0.25
    features: list[str] | None = Field(default=None, description="features to watch; unset: all")
    score: bool = Field(default=True, description="also watch the champion's score distribution")

    @property
    def windows_per_day(self) -> float:
        return DAY_S / (self.slide_s or self.window_s)

    @property
    def sources(self) -> int:
        """Window families that can alarm: the features, and the score distribution when watched."""
        return 2 if self.score else 1

    @property
    def alpha(self) -> float:
        """Per-window level of each source: the daily budget split over a day's windows (a union bound, valid
        for overlapping sliding windows too), unless a fixed alpha is configured."""
        if self.fixed_alpha is not None:
            return self.fixed_alpha
        return self.false_alarms_per_day / (self.windows_per_day * self.sources)


class ConceptOptions(_Frozen):
    window_s: float = Field(default=3600.0, gt=0, description="window length in event time")
    label_horizon_s: float = Field(default=3 * 86400.0, ge=0, description="how long after a window its labels may come")
    false_alarms_per_day: float = Field(
        default=0.05, gt=0, lt=1, description="share of days with no decay allowed a false alarm, per version"
    )
    fixed_alpha: float | None = Field(default=None, alias="alpha", gt=0, lt=1, description=_FIXED_ALPHA)
    min_labels: int = Field(default=500, ge=2)
    min_degradation: float = Field(default=0.0, ge=0, description="relative log-loss increase needed to alarm")

    @property
    def windows_per_day(self) -> float:
        return DAY_S / self.window_s

    @property
    def alpha(self) -> float:
        if self.fixed_alpha is not None:
            return self.fixed_alpha
        return self.false_alarms_per_day / self.windows_per_day


class PromotionOptions(_Frozen):
    alpha: float = Field(default=0.05, gt=0, lt=1, description="error of a PROMOTE (or REJECT-as-worse) decision")
    loss: Literal["log_loss", "brier"] = "log_loss"
    design_n: int = Field(default=10_000, ge=1, description="pairs at which the confidence sequence is tightest")
    min_pairs: int = Field(default=500, ge=2, description="burn-in before any decision")
    margin: float = Field(default=0.0, ge=0, description="smallest loss improvement worth a switch (futility stop)")
    max_pairs: int | None = Field(default=None, ge=2, description="REJECT as futile after this many pairs")
    report_every: int = Field(default=1_000, ge=1)
    # The price of unbiased decisions: an event is tested only once its label horizon has closed (streams/join).
    horizon_s: float = Field(default=3 * 86400.0, gt=0, description="label horizon: events are tested this long after")
    default_label: int = Field(default=0, description="the class of an event with no label by its horizon")
    label_lateness_s: float = Field(default=3600.0, ge=0, description="how far out of label-time order labels come")
    prediction_lateness_s: float = Field(default=600.0, ge=0, description="how late (event time) predictions come")
    # About 450 bytes per waiting event: the default bounds the join near 225 MB (beyond it, a hash sample).
    max_pending: int = Field(default=500_000, ge=1, description="events waiting in the join, at most")


class AlertOptions(_Frozen):
    webhook_url: str | None = None
    timeout_s: float = Field(default=5.0, gt=0)
    retries: int = Field(default=5, ge=0)
    backoff_s: float = Field(default=0.5, gt=0)
    backoff_max_s: float = Field(default=30.0, gt=0)
    queue_size: int = Field(default=1_000, ge=1, description="alerts waiting for the webhook, then dropped")


class ModelOptions(_Frozen):
    drift: DriftOptions = Field(default_factory=DriftOptions)
    concept: ConceptOptions = Field(default_factory=ConceptOptions)
    promotion: PromotionOptions = Field(default_factory=PromotionOptions)
    alerts: AlertOptions = Field(default_factory=AlertOptions)


class StreamsConfig(_Frozen):
    defaults: ModelOptions = Field(default_factory=ModelOptions)
    models: dict[str, dict[str, dict[str, Any]]] = Field(default_factory=dict)

    def for_model(self, model: str, **overrides: dict[str, Any]) -> ModelOptions:
        """The defaults, then the model's table, then ``overrides`` (section -> fields), deep-merged."""
        merged = self.defaults.model_dump(by_alias=True)
        for layer in (self.models.get(model, {}), overrides):
            for section, fields in layer.items():
                merged.setdefault(section, {}).update(fields)
        try:
            return ModelOptions.model_validate(merged)
        except ValidationError as error:
            raise ScorecastError(f"invalid streams config for model {model!r}: {_first(error)}") from error


def load_config(path: Path | None) -> StreamsConfig:
    if path is None:
        return StreamsConfig()
    try:
        text = path.read_text()
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
        return StreamsConfig.model_validate(data)
    except OSError as error:
        raise ScorecastError(f"cannot read streams config {path}: {error.strerror or error}") from error
    except (ValueError, tomllib.TOMLDecodeError) as error:
        detail = _first(error) if isinstance(error, ValidationError) else str(error).splitlines()[0]
        raise ScorecastError(f"invalid streams config {path}: {detail}") from error


def _first(error: ValidationError) -> str:
    first = error.errors()[0]
    return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
