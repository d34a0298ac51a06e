"""Signals: built from reports, encoded with the signals schema, and read back unchanged; config layering."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from schemas.codec import AvroCodec
from schemas.registry import LocalSchemaStore
from scorecast.errors import ScorecastError
from streams.config import load_config
from streams.drift import DriftPolicy, WindowReport
from streams.drift_stats import ColumnResult
from streams.promotion import PromotionReport
from streams.sequential import SequentialResult, Verdict
from streams.signals import Signal, drift_signals, promotion_signal

CODEC = AvroCodec(LocalSchemaStore(), "transactions.signals", "signals")


def test_a_drift_window_gives_a_summary_and_one_signal_per_column_and_they_encode() -> None:
    columns = (
        ColumnResult("amount", "ks", 900, 50_000, 0.21, 1e-9, 0.3, 0.4, 0.35, None, 0),
        ColumnResult("channel", "chi2", 900, 50_000, 3.2, 0.36, 0.004, None, None, 0.02, 1),
    )
    report = WindowReport(1_000, 2_000, 901, 3, True, columns, (2e-9, 0.36), (True, False))
    signals = drift_signals("fraud", 4, "features", report, DriftPolicy(), emitted_at=2_500)
    assert [s.metric for s in signals] == ["drift:features", "ks:amount", "chi2:channel"]
    summary, amount, channel = signals
    assert (summary.value, summary.evidence["flagged"], summary.evidence["late_events"]) == (1.0, "amount", "3")
    assert amount.evidence["severity"] == "major"
    assert amount.evidence["p_holm"] == repr(2e-9)
    assert "js_distance" in channel.evidence
    assert "wasserstein_sd" not in channel.evidence
    for signal in signals:
        decoded = CODEC.decode(CODEC.encode(signal.to_record()))
        assert Signal.from_record(decoded) == signal


def test_a_promotion_signal_carries_its_decision_and_evidence() -> None:
    result = SequentialResult(4_000, 0.004, 0.05, 0.001, 0.007, 0.003, 300.0, Verdict.BETTER, 4_000)
    report = PromotionReport(1, 2, result, 0.08, 0.076, 10, 20)
    signal = promotion_signal("fraud", "log_loss", report, 0.05, 30)
    assert (signal.kind, signal.decision, signal.version, signal.baseline_version) == ("PROMOTION", "PROMOTE", 2, 1)
    assert float(signal.evidence["ci_low"]) == 0.001
    assert float(signal.evidence["relative_effect"]) == pytest.approx(0.05)
    assert Signal.from_record(CODEC.decode(CODEC.encode(signal.to_record()))) == signal
    before = SequentialResult(10, 0.0, 0.0, -math.inf, math.inf, 1.0, 1.0, Verdict.CONTINUE)
    held = promotion_signal("fraud", "log_loss", PromotionReport(1, 2, before, 0.1, 0.1, 0, 0), 0.05, 1)
    assert held.decision == "HOLD"
    assert held.evidence["ci_low"] == "-inf"


def test_per_model_config_layers_over_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "streams.toml"
    path.write_text("[defaults.drift]\nalpha = 0.01\n[models.fraud.drift]\nwindow_s = 60\nslide_s = 15\n")
    config = load_config(path)
    fraud = config.for_model("fraud", drift={"min_psi": 0.1})
    assert (fraud.drift.alpha, fraud.drift.window_s, fraud.drift.slide_s, fraud.drift.min_psi) == (0.01, 60, 15, 0.1)
    assert config.for_model("other").drift.window_s == 300
    with pytest.raises(ScorecastError, match=r"drift.alpha"):
        config.for_model("fraud", drift={"alpha": 2.0})
    path.write_text("[defaults.drift\n")
    with pytest.raises(ScorecastError, match="invalid streams config"):
        load_config(path)
    assert np.isclose(load_config(None).for_model("x").promotion.alpha, 0.05)
