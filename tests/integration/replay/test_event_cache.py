"""Replays with an event cache give the results of replays without it, and read from Kafka only what is new."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from scorers.registry import ModelVersion
from scorers.replay import metrics, scan
from scorers.replay.metrics import Drift
from scorers.replay.runner import ReplayOutcome
from tests.integration.replay.conftest import CountingReader, Produce, Replay, champion, count_reads, read_results


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> type[CountingReader]:
    return count_reads(monkeypatch, scan)  # the event records read from Kafka


def challenger(registered: list[ModelVersion]) -> str:
    version = next(v for v in registered if v.metrics.get("kind") == "mlp")
    return f"{version.model}@{version.version}"


@pytest.fixture
def drift_computed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many drift comparisons (a column set against a reference) the replays computed, not read back."""
    computed = [0]
    compute = metrics._drift

    def counted(*args: Any) -> Drift:
        computed[0] += 1
        return compute(*args)

    monkeypatch.setattr(metrics, "_drift", counted)
    return computed


def same_findings(a: ReplayOutcome, b: ReplayOutcome) -> None:
    fa, fb = a.findings, b.findings
    assert (fa.events, fa.labelled, fa.rejects) == (fb.events, fb.labelled, fb.rejects)
    assert fa.overall == fb.overall
    assert fa.over_time == fb.over_time
    for drift_a, drift_b in (*zip(fa.feature_drift.values(), fb.feature_drift.values(), strict=True),
                             *zip(fa.score_drift.values(), fb.score_drift.values(), strict=True)):  # fmt: skip
        assert (drift_a is None) == (drift_b is None)
        if drift_a is not None and drift_b is not None:  # PSI is exact; sketch p-values vary within their error
            np.testing.assert_array_equal(drift_a.psi, drift_b.psi)
            np.testing.assert_array_equal(drift_a.psi_whole, drift_b.psi_whole)


def test_cached_events_give_the_same_results_and_only_new_events_are_read(
    registered: list[ModelVersion],
    produce: Produce,
    replay: Replay,
    tmp_path: Path,
    counted: Any,
    drift_computed: list[int],
) -> None:
    cache = tmp_path / "event-cache"
    first = produce(3_000)
    for model in (champion(registered), challenger(registered)):
        plain = replay(*first.window, (model,), name=f"plain-{model}")
        counted.read = 0
        cold = replay(*first.window, (model,), name=f"cold-{model}", event_cache=cache)
        cold_reads, counted.read = counted.read, 0
        drift_computed[0] = 0
        warm = replay(*first.window, (model,), name=f"warm-{model}", event_cache=cache)
        assert counted.read == 0  # every event of the range came from the cache
        assert drift_computed[0] == 0  # and its drift from the cold replay's
        assert read_results(warm.results).equals(read_results(plain.results))
        assert read_results(cold.results).equals(read_results(plain.results))
        same_findings(warm, plain)
        same_findings(cold, plain)
        assert cold_reads == (3_000 if model == champion(registered) else 0)  # the champion's replay filled it

    second = produce(2_000, seed=5)
    counted.read = 0
    both = (first.window[0], second.window[1])
    grown = replay(*both, (champion(registered),), name="grown", event_cache=cache)
    assert counted.read == 2_000  # the new events, not the cached ones
    plain = replay(*both, (champion(registered),), name="grown-plain")
    assert read_results(grown.results).equals(read_results(plain.results))
    same_findings(grown, plain)


def span_events(chunk: Path) -> int:
    start, end = chunk.stem.split("-")
    return int(end) - int(start)


def test_a_corrupt_partial_or_foreign_chunk_is_read_again_and_rewritten(
    registered: list[ModelVersion], produce: Produce, replay: Replay, tmp_path: Path, counted: Any
) -> None:
    cache = tmp_path / "event-cache"
    produced = produce(3_000)
    model = (champion(registered),)
    plain = replay(*produced.window, model, name="plain")
    replay(*produced.window, model, name="cold", event_cache=cache)
    chunks = sorted(cache.rglob("*.arrow"))
    assert len(chunks) == 2  # one per partition
    first, second = chunks
    valid = first.read_bytes()
    first.write_bytes(valid[:-200])  # a write cut short
    second.write_bytes(valid)  # another span's chunk under this span's name: its metadata does not match

    counted.read = 0
    again = replay(*produced.window, model, name="again", event_cache=cache)
    assert counted.read == 3_000  # both spans came from Kafka again
    assert read_results(again.results).equals(read_results(plain.results))
    same_findings(again, plain)
    counted.read = 0
    replay(*produced.window, model, name="rewritten", event_cache=cache)
    assert counted.read == 0  # and were kept again

    second.write_bytes(b"not an arrow file")
    counted.read = 0
    garbled = replay(*produced.window, model, name="garbled", event_cache=cache)
    assert counted.read == span_events(second)
    assert read_results(garbled.results).equals(read_results(plain.results))
