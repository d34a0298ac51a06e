"""`signals show`: the compact table fits an 80-column terminal and keeps each signal's verdict."""

from __future__ import annotations

import io

from rich.console import Console

from streams.cli import signals_table
from streams.signals import Signal

T = 1_767_225_600_000
SIGNALS = [
    Signal("PROMOTION", "fraud", "msprt:log_loss", -0.0021, T, T + 5_000, T, 3, 1, 0.05, "REJECT",
           {"n": "18734", "ci_low": "-0.0031", "ci_high": "-0.0012", "p_value": "0.001", "e_value": "40.1"}),
    Signal("DRIFT", "fraud", "drift:features", 1.0, T, T + 10_000, T, 1,
           evidence={"flagged": "amount", "tested": "true", "events": "2000"}),
    Signal("DRIFT", "fraud", "ks:distance_from_last_txn_km", 0.0213, T, T + 10_000, T, 1,
           evidence={"flagged": "false", "p_holm": "0.43", "psi": "0.0123", "wasserstein_sd": "0.01"}),
    Signal("DRIFT", "fraud", "ks:amount", 0.31, T, T + 10_000, T, 1,
           evidence={"flagged": "true", "p_holm": "1.2e-40", "psi": "0.5123"}),
]  # fmt: skip


def render(wide: bool, width: int) -> list[str]:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(signals_table(SIGNALS, wide))
    return console.export_text().splitlines()


def test_the_compact_table_fits_80_columns_and_shows_each_verdict() -> None:
    lines = render(wide=False, width=80)
    assert max(len(line) for line in lines) <= 80
    text = "\n".join(lines)
    assert "REJECT n=18734 ci" in text
    assert "[-0.0031, -0.0012]" in text
    assert "ALARM: amount" in text
    assert "DRIFT p=1.2e-40" in text
    assert "ci_high…" not in text


def test_the_wide_table_keeps_all_the_evidence() -> None:
    text = "\n".join(render(wide=True, width=400))
    assert "e_value=40.1" in text
    assert "wasserstein_sd=0.01" in text
