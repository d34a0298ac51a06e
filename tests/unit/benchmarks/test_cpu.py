"""CPU shares from /proc: each party's time per unit of work, what no party accounts for, and the box's idle."""

from __future__ import annotations

import math
import os
import time

from benchmarks.cpu import CpuShares, CpuSpan, process_cpu_s


def test_shares_per_unit_name_what_no_party_accounts_for_and_the_idle_time() -> None:
    shares = CpuShares({"worker": 1.0, "Cassandra": 2.5, "Kafka": float("nan")}, idle_s=0.5, busy_s=4.0)
    per_event = shares.per_unit_us(1_000_000)
    assert per_event["worker"] == 1.0
    assert per_event["Cassandra"] == 2.5
    assert math.isnan(per_event["Kafka"])  # not ours to read: not counted in the rest either
    assert per_event["rest of the box"] == 0.5
    assert per_event["idle"] == 0.5


def test_a_span_counts_this_process_burning_cpu_and_nan_for_a_process_that_is_gone() -> None:
    span = CpuSpan({"me": [os.getpid()], "gone": [2**22 + 1]}).start()  # above pid_max's default: no such process
    deadline = time.process_time() + 0.2
    while time.process_time() < deadline:
        pass
    shares = span.stop()
    assert shares.parties["me"] >= 0.1  # clock ticks: 10 ms granularity
    assert math.isnan(shares.parties["gone"])
    assert shares.busy_s >= 0.1
    assert math.isnan(process_cpu_s(None))
