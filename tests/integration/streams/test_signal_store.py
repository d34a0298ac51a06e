"""Signals in Cassandra: the newest of one kind are found however many signals of other kinds share the day."""

from __future__ import annotations

from scorecast.cassandra import connect
from scorecast.settings import Settings
from streams.signals import Signal
from streams.store import SignalStore

MODEL = "fraud"
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
WINDOW_MS = 10_000


def drift_window(end_ms: int) -> list[Signal]:
    """What one drift window writes: a summary and one signal per column (17 here)."""
    metrics = ["drift:features"] + [f"ks:feature_{i:02d}" for i in range(16)]
    return [Signal("DRIFT", MODEL, m, 0.01, end_ms - WINDOW_MS, end_ms, end_ms + 1, 1, threshold=0.05) for m in metrics]


def test_a_promotion_decision_is_found_after_many_drift_windows(settings: Settings) -> None:
    session = connect(settings, settings.keyspace)
    try:
        store = SignalStore(session)
        decision = Signal(
            "PROMOTION", MODEL, "msprt:log_loss", -0.002, T0, T0 + WINDOW_MS, T0 + WINDOW_MS, 2, 1, 0.05, "PROMOTE",
            {"ci_low": "-0.003", "ci_high": "-0.001"},
        )  # fmt: skip
        store.write([decision])
        for window in range(2, 42):  # 40 later drift windows the same day: 680 newer rows
            store.write(drift_window(T0 + window * WINDOW_MS))
        assert store.latest(MODEL, limit=20, kind="PROMOTION") == [decision]
        drift = store.latest(MODEL, limit=20, kind="DRIFT")
        assert len(drift) == 20
        assert {s.window_end for s in drift} == {T0 + 41 * WINDOW_MS, T0 + 40 * WINDOW_MS}  # newest first
        assert all(s.kind == "DRIFT" for s in drift)
        everything = store.latest(MODEL, limit=10_000)
        assert len(everything) == 40 * 17 + 1
        assert everything[-1] == decision
    finally:
        session.cluster.shutdown()
