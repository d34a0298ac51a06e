"""Checkpoint bookkeeping on disk: parts must tile the range; uncommitted part files are removed."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from scorers.replay.checkpoint import Checkpoint, Manifest
from scorers.replay.errors import ReplayError
from scorers.replay.ranges import PartitionRange, ReplayRange

RANGE = ReplayRange("t.events", (PartitionRange(0, 10, 40), PartitionRange(1, 0, 5)), 0, 1)


def part(rows: int) -> pa.Table:
    return pa.table({"offset": pa.array(range(rows), pa.int64())})


def test_committed_parts_give_the_next_offsets_and_orphans_are_removed(tmp_path: Path) -> None:
    checkpoint = Checkpoint.for_results(tmp_path / "r.parquet")
    checkpoint.start(Manifest({"stream": "t"}, RANGE, None, (("fraud", 1, "ab"),)))
    assert checkpoint.manifest() == Manifest({"stream": "t"}, RANGE, None, (("fraud", 1, "ab"),))
    assert checkpoint.next_offsets(RANGE) == {0: 10, 1: 0}
    checkpoint.commit(part(3), None, {0: (10, 25), 1: (0, 5)})
    checkpoint.commit(part(2), pa.table({"reason": ["bad-header"]}), {0: (25, 30)})
    assert checkpoint.next_offsets(RANGE) == {0: 30, 1: 5}
    (checkpoint.directory / "part-orphan.arrow").write_bytes(b"half a file")
    assert checkpoint.discard_uncommitted() == 1
    read = checkpoint.read()
    rejects = checkpoint.read("rejects")
    assert read is not None
    assert rejects is not None
    assert (read.num_rows, rejects.num_rows) == (5, 1)
    checkpoint.remove()
    assert not checkpoint.directory.exists()


@pytest.mark.parametrize("covered", [{0: (12, 20)}, {0: (10, 41)}, {2: (0, 1)}])
def test_parts_that_do_not_tile_the_range_are_refused(tmp_path: Path, covered: dict[int, tuple[int, int]]) -> None:
    checkpoint = Checkpoint(tmp_path / "c")
    checkpoint.start(Manifest({}, RANGE, None, ()))
    checkpoint.commit(part(1), None, covered)
    with pytest.raises(ReplayError, match="checkpoint"):
        checkpoint.next_offsets(RANGE)


def test_an_unreadable_manifest_is_one_clear_error(tmp_path: Path) -> None:
    checkpoint = Checkpoint(tmp_path / "c")
    checkpoint.directory.mkdir()
    (checkpoint.directory / "manifest.json").write_text("{not json")
    with pytest.raises(ReplayError, match=r"unreadable checkpoint .* delete"):
        checkpoint.manifest()
