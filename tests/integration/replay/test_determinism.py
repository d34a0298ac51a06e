"""The same range and versions give the same results, however many processes scan and however batches fall."""

from __future__ import annotations

from scorers.registry import ModelVersion
from tests.integration.replay.conftest import Produce, Replay, every_version, read_results


def test_same_range_and_versions_give_the_same_results(
    registered: list[ModelVersion], produce: Produce, replay: Replay
) -> None:
    produced = produce(20_000)
    models = every_version(registered)
    one = read_results(replay(*produced.window, models, name="one").results)
    again = read_results(replay(*produced.window, models, name="again", batch=1500).results)
    two = read_results(replay(*produced.window, models, name="two", workers=2, batch=777).results)
    assert one.num_rows == 20_000 * len(models)
    assert one.equals(again)
    assert one.equals(two)
    # sorted by version, then partition and offset
    keys = list(zip(*(one.column(c).to_pylist() for c in ("version", "partition", "offset")), strict=True))
    assert keys == sorted(keys)
