"""An interrupted replay continues from its checkpoint, losing and duplicating nothing; even a part whose
commit marker never got written (a crash at the worst instant) is simply read again."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from scorers.registry import ModelVersion
from scorers.replay.checkpoint import Checkpoint
from scorers.replay.errors import ReplayInterruptedError
from scorers.replay.progress import Advance
from tests.integration.replay.conftest import Produce, Replay, every_version, read_results


class StopAfter:
    """A progress sink that asks the replay to stop once ``events`` events were scanned (what Ctrl-C does)."""

    def __init__(self, events: int, stop: threading.Event) -> None:
        self.events = events
        self.stop = stop
        self.seen = 0

    def phase(self, name: str, total: int, done: int = 0) -> Advance:
        def advance(n: int) -> None:
            if name == "events":
                self.seen += n
                if self.seen >= self.events:
                    self.stop.set()

        return advance


def test_an_interrupted_replay_continues_where_it_stopped(
    registered: list[ModelVersion], produce: Produce, replay: Replay, tmp_path: Path
) -> None:
    produced = produce(30_000)
    models = every_version(registered)
    straight = read_results(replay(*produced.window, models, name="straight").results)

    stop = threading.Event()
    with pytest.raises(ReplayInterruptedError, match="rerun the same command to continue"):
        replay(*produced.window, models, name="resumed", progress=StopAfter(8_000, stop), stop=stop,
               batch=1_000, flush_events=2_000)  # fmt: skip
    checkpoint = Checkpoint.for_results(tmp_path / "resumed.parquet")
    parts = checkpoint.parts()
    committed = sum(n - s for part in parts for s, n in part.covered.values())
    assert len(parts) >= 3
    assert 8_000 <= committed < 30_000
    # the last part's data was written but its commit marker was lost (one process wrote them all, in this order):
    # it does not count and its events are read again
    (checkpoint.directory / f"{parts[-1].name}.json").unlink()

    outcome = replay(*produced.window, models, name="resumed", workers=2)
    assert outcome.resumed
    assert read_results(outcome.results).equals(straight)
    assert not checkpoint.directory.exists()  # a finished replay leaves only its results
