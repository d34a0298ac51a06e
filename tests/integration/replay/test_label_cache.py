"""Replays with a label cache give the results of replays without it, and read from Kafka only what is new."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scorers.registry import ModelVersion
from scorers.replay import label_fetch
from tests.integration.replay.conftest import CountingReader, Produce, Replay, champion, count_reads, read_results


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> type[CountingReader]:
    return count_reads(monkeypatch, label_fetch)  # the label records read from Kafka


def test_cached_labels_give_the_same_results_and_only_new_labels_are_read(
    registered: list[ModelVersion], produce: Produce, replay: Replay, tmp_path: Path, counted: Any
) -> None:
    cache = tmp_path / "label-cache"
    model = (champion(registered),)
    first = produce(3_000)
    cold = replay(*first.window, model, name="cold", label_cache=cache)
    assert counted.read >= 3_000  # every label of the window came from Kafka
    counted.read = 0
    warm = replay(*first.window, model, name="warm", label_cache=cache)
    assert counted.read == 0
    plain = replay(*first.window, model, name="plain")
    assert read_results(cold.results).equals(read_results(plain.results))
    assert read_results(warm.results).equals(read_results(plain.results))
    assert warm.findings.labelled == plain.findings.labelled > 0

    second = produce(2_000, seed=5)
    counted.read = 0
    both = (first.window[0], second.window[1])
    grown = replay(*both, model, name="grown", label_cache=cache)
    assert 2_000 <= counted.read < 5_000  # the new labels, not the cached ones
    plain = replay(*both, model, name="grown-plain")
    assert read_results(grown.results).equals(read_results(plain.results))
