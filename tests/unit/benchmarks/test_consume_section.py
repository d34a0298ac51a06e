"""The consume section reports every measurement bench_consume returns: the transport ratio and the range-read
tunings against the replay reader's own settings (it once unpacked exactly two figures and failed on five)."""

from __future__ import annotations

import pytest

import benchmarks.__main__ as suite
from benchmarks import bench_consume
from benchmarks.common import Measurement
from scorecast.settings import Settings


def figures(settings: Settings, n: int, repeats: int) -> list[Measurement]:
    rates: list[tuple[str, float]] = [
        (bench_consume.CONFLUENT, 400_000.0),
        *((f"kafka range read: {name} (per CPU-second)", rate) for (name, _, _), rate in
          zip(bench_consume.RANGE_READS, (300_000.0, 240_000.0, 270_000.0), strict=True)),
        (bench_consume.FAUST, 50_000.0),
    ]  # fmt: skip
    return [Measurement.of(name, "msg/s", [rate]) for name, rate in rates]


def test_the_section_reports_the_transport_ratio_and_each_tuning_against_the_readers_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bench_consume, "run", figures)
    monkeypatch.setattr(bench_consume, "faust_installed", lambda: True)
    plan = suite.Plan(n=10, repeats=1, seconds=1.0)
    section = suite.consume(Settings(), plan, None)
    assert len(section.measurements) == 5
    assert section.lines == [
        "confluent-kafka / faust-streaming: 8.0x",
        "range read per CPU-second, bulk-drain tuning, batch 4000 / replay reader settings, batch 4000: 0.80x",
        "range read per CPU-second, bulk-drain tuning, batch 20000 / replay reader settings, batch 4000: 0.90x",
    ]
