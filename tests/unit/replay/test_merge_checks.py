"""The merge refuses parts that are not one complete run: a shard missing, parts overlapping or leaving a gap,
parts of another shard count or of another request; a rerun shard replaces only its own part."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from scorecast.app.cli import main
from scorers.replay.errors import ReplayError
from scorers.replay.merge import check, read_parts
from scorers.replay.parts import PartRecord, ResultStore
from scorers.replay.ranges import PartitionRange, ReplayRange
from scorers.replay.shards import Shard, split

RANGE = ReplayRange("t.events", (PartitionRange(0, 0, 100), PartitionRange(1, 10, 40)), 1_000, 2_000)
REQUEST = {"stream": "t", "from": "0", "to": "latest", "models": ["fraud@1"], "horizon_ms": 1}


def record(shard: Shard, covered: tuple[PartitionRange, ...], rows: int = 0) -> PartRecord:
    return PartRecord(
        shard=shard,
        request=REQUEST,
        range=RANGE,
        labels=None,
        models=(("fraud", 1, "ab" * 32),),
        feature_names=("amount",),
        covered=covered,
        rows=rows,
        rejects={},
        unreadable_labels=0,
        seconds=1.0,
    )


def events(offsets: range) -> pa.Table:
    return pa.table({"partition": pa.array([0] * len(offsets), pa.int32()), "offset": list(offsets)})


def write_run(store: ResultStore, count: int, skip: tuple[int, ...] = ()) -> None:
    for i, share in enumerate(split(RANGE.partitions, count)):
        if i not in skip:
            store.write(record(Shard(i, count), share), events(range(0)), None)


def test_a_complete_run_is_accepted_in_shard_order(tmp_path: Path) -> None:
    store = ResultStore(str(tmp_path))
    write_run(store, 3)
    assert [r.shard for r in check(store)] == [Shard(0, 3), Shard(1, 3), Shard(2, 3)]
    assert not list(tmp_path.glob("*.tmp"))


def test_a_missing_shard_is_named_with_the_command_that_makes_it(tmp_path: Path) -> None:
    store = ResultStore(str(tmp_path))
    write_run(store, 3, skip=(1,))
    with pytest.raises(ReplayError, match=r"shard 1 of 3 missing at .*: run --shard 1/3, then merge again"):
        check(store)


def test_overlapping_parts_are_refused(tmp_path: Path) -> None:
    store = ResultStore(str(tmp_path))
    store.write(record(Shard(0, 2), (PartitionRange(0, 0, 60),)), events(range(0)), None)
    store.write(record(Shard(1, 2), (PartitionRange(0, 50, 100), PartitionRange(1, 10, 40))), events(range(0)), None)
    with pytest.raises(ReplayError, match=r"part-0-of-2\.parquet and part-1-of-2\.parquet overlap: both "
                                          "cover partition 0 offsets 50-60"):  # fmt: skip
        check(store)


def test_a_gap_between_parts_is_refused(tmp_path: Path) -> None:
    store = ResultStore(str(tmp_path))
    store.write(record(Shard(0, 2), (PartitionRange(0, 0, 40),)), events(range(0)), None)
    store.write(record(Shard(1, 2), (PartitionRange(0, 50, 100), PartitionRange(1, 10, 40))), events(range(0)), None)
    with pytest.raises(ReplayError, match="covers partition 0 offsets 50-100, which does not follow offset 40"):
        check(store)


def test_parts_of_two_shard_counts_are_refused(tmp_path: Path) -> None:
    store = ResultStore(str(tmp_path))
    write_run(store, 3)
    write_run(store, 2)
    with pytest.raises(ReplayError, match=r"parts of 2 and 3 shards at .*: they are not one run"):
        check(store)


@pytest.mark.parametrize(
    ("change", "what"),
    [
        ({"models": (("fraud", 1, "cd" * 32),)}, "the models"),
        ({"range": dataclasses.replace(RANGE, end_ms=3_000)}, "the range"),
        ({"request": {**REQUEST, "to": "2026-12-01"}}, "the request"),
    ],
)
def test_parts_that_disagree_are_refused(tmp_path: Path, change: dict[str, object], what: str) -> None:
    store = ResultStore(str(tmp_path))
    write_run(store, 2, skip=(1,))
    share = split(RANGE.partitions, 2)[1]
    store.write(dataclasses.replace(record(Shard(1, 2), share), **change), events(range(0)), None)  # type: ignore[arg-type]
    with pytest.raises(ReplayError, match=f"part-1-of-2.parquet and part-0-of-2.parquet disagree on {what}"):
        check(store)


def test_a_part_whose_rows_differ_from_its_record_is_refused(tmp_path: Path) -> None:
    store = ResultStore(str(tmp_path))
    (share,) = split(RANGE.partitions, 1)
    store.write(record(Shard(0, 1), share, rows=5), events(range(4)), None)
    with pytest.raises(ReplayError, match="holds 4 rows, its record says 5"):
        read_parts(store)


def test_a_rerun_shard_replaces_its_own_part_only(tmp_path: Path) -> None:
    store = ResultStore(str(tmp_path))
    write_run(store, 2)
    other = (tmp_path / "part-1-of-2.parquet").read_bytes()
    share = split(RANGE.partitions, 2)[0]
    store.write(record(Shard(0, 2), share, rows=3), events(range(3)), None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["part-0-of-2.parquet", "part-1-of-2.parquet"]
    assert (tmp_path / "part-1-of-2.parquet").read_bytes() == other
    assert [r.rows for r in check(store)] == [3, 0]


def test_the_merge_command_refuses_in_one_line_with_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_run(ResultStore(str(tmp_path)), 3, skip=(0, 2))
    monkeypatch.setattr(sys, "argv", ["scorecast", "replay", "merge", "--results", str(tmp_path)])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [f"error: shards 0, 2 of 3 missing at {tmp_path}: run --shard 0/3 and "
                                        "--shard 2/3, then merge again"]  # fmt: skip
    assert not (tmp_path / "replay-report.html").exists()
