"""The same range and versions give the same results, however many processes scan and however batches fall."""

from __future__ import annotations

from scorers.registry import ModelVersion
from tests.integration.replay.conftest import Produced, Replay, every_version, read_results


def test_same_range_and_versions_give_the_same_results(registered: list[ModelVersion], produce, replay: Replay) -> None:
    produced: Produced = produce(30_000)
    models = every_version(registered)
    window = (str(produced.from_ms), str(produced.to_ms))
    one = read_results(replay(*window, models, name="one", workers=1).results)
    again = read_results(replay(*window, models, name="again", workers=1, batch=1500).results)
    two = read_results(replay(*window, models, name="two", workers=2, batch=777).results)
    assert one.num_rows == 30_000 * len(models)
    assert one.equals(again)
    assert one.equals(two)
