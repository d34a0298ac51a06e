"""The split of a range among N shards: disjoint, complete, whole partitions when there are enough of them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scorers.replay.errors import ReplayError
from scorers.replay.ranges import PartitionRange
from scorers.replay.shards import Shard, split

ranges_strategy = st.lists(st.tuples(st.integers(0, 50), st.integers(0, 400)), min_size=1, max_size=8).map(
    lambda spans: tuple(PartitionRange(p, start, start + n) for p, (start, n) in enumerate(spans))
)


def _offsets(ranges: tuple[PartitionRange, ...]) -> list[tuple[int, int]]:
    return sorted((r.partition, o) for r in ranges for o in range(r.start, r.end))


@given(ranges_strategy, st.integers(1, 12))
def test_the_shares_tile_the_range_exactly(ranges: tuple[PartitionRange, ...], count: int) -> None:
    shares = split(ranges, count)
    assert len(shares) == count
    every = [o for share in shares for o in _offsets(share)]
    assert sorted(every) == _offsets(ranges)  # each offset read once, by one shard
    assert shares == split(ranges, count)  # every shard computes the same split on its own
    for share in shares:
        assert [r.partition for r in share] == sorted({r.partition for r in share})


@given(ranges_strategy, st.integers(1, 12))
def test_whole_partitions_when_there_are_as_many_as_shards(ranges: tuple[PartitionRange, ...], count: int) -> None:
    shares = split(ranges, count)
    if len(ranges) >= count:
        assert sorted(r.partition for share in shares for r in share) == [r.partition for r in ranges]
    else:  # offsets cut into equal shares: sizes differ by at most one share's rounding
        sizes = [sum(r.events for r in share) for share in shares]
        size = -(-sum(r.events for r in ranges) // count)
        assert all(s <= size for s in sizes)


def test_fewer_partitions_than_shards_split_partitions_at_offsets() -> None:
    ranges = (PartitionRange(0, 100, 400), PartitionRange(1, 0, 300))
    assert split(ranges, 3) == [
        (PartitionRange(0, 100, 300),),
        (PartitionRange(0, 300, 400), PartitionRange(1, 0, 100)),
        (PartitionRange(1, 100, 300),),
    ]
    assert Shard(1, 3).share(ranges) == (PartitionRange(0, 300, 400), PartitionRange(1, 0, 100))


def test_partitions_go_to_the_least_loaded_shard_largest_first() -> None:
    ranges = (PartitionRange(0, 0, 10), PartitionRange(1, 0, 50), PartitionRange(2, 0, 40), PartitionRange(3, 0, 5))
    assert split(ranges, 2) == [
        (PartitionRange(1, 0, 50), PartitionRange(3, 0, 5)),
        (PartitionRange(0, 0, 10), PartitionRange(2, 0, 40)),
    ]


def test_more_shards_than_events_leaves_some_shards_nothing() -> None:
    assert split((PartitionRange(0, 0, 2),), 4) == [(PartitionRange(0, 0, 1),), (PartitionRange(0, 1, 2),), (), ()]


@pytest.mark.parametrize("text", ["3/3", "-1/3", "1", "a/b", "1/0", "1/3/4", ""])
def test_a_bad_shard_is_refused_in_one_line(text: str) -> None:
    with pytest.raises(ReplayError, match="must be I/N"):
        Shard.parse(text)


def test_a_shard_parses_with_spaces_around() -> None:
    assert Shard.parse(" 2/8 ") == Shard(2, 8)
    assert str(Shard(2, 8)) == "2/8"
