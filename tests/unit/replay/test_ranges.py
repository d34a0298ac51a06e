"""Range resolution rules, against a topic described in memory."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scorers.replay.bounds import parse_bound
from scorers.replay.errors import ReplayError
from scorers.replay.parallel import shares
from scorers.replay.ranges import FAR_FUTURE_MS, PartitionRange, ReplayRange, resolve


@dataclass
class FakeTopic:
    """Partition p holds records at offsets [low, high) with timestamps base + 10 * offset."""

    marks: dict[int, tuple[int, int]]
    base: int = 1_767_225_600_000
    topic: str = "t.events"
    peeks: list[dict[int, int]] = field(default_factory=list)

    def partitions(self) -> tuple[int, ...]:
        return tuple(sorted(self.marks))

    def watermarks(self, partition: int) -> tuple[int, int]:
        return self.marks[partition]

    def offsets_for_time(self, ms: int) -> dict[int, int]:
        found = {}
        for p, (low, high) in self.marks.items():
            first = max(low, -(-(ms - self.base) // 10))
            found[p] = first if first < high else -1
        return found

    def timestamps(self, offsets: dict[int, int]) -> dict[int, int]:
        self.peeks.append(offsets)
        return {p: self.base + 10 * o for p, o in offsets.items() if o < self.marks[p][1]}


def bounds(start: str, end: str) -> tuple[object, object]:
    return parse_bound(start, "--from"), parse_bound(end, "--to")


def test_times_resolve_to_first_offsets_at_or_after_them_and_past_the_end_to_the_end() -> None:
    topic = FakeTopic({0: (0, 100), 1: (0, 50)})
    base = topic.base
    replay = resolve(topic, *bounds(str(base + 95), str(base + 700)))  # type: ignore[arg-type]
    assert replay.partitions == (PartitionRange(0, 10, 70), PartitionRange(1, 10, 50))
    assert (replay.start_ms, replay.end_ms) == (base + 95, base + 700)
    assert replay.events == 100


def test_offsets_per_partition_and_one_for_all() -> None:
    topic = FakeTopic({0: (0, 100), 1: (0, 50), 2: (0, 80)})
    replay = resolve(topic, *bounds("0:10,2:5", "0:20,2:80"))  # type: ignore[arg-type]
    assert replay.partitions == (PartitionRange(0, 10, 20), PartitionRange(2, 5, 80))
    # span from the first and last records' own timestamps
    assert (replay.start_ms, replay.end_ms) == (topic.base + 50, topic.base + 790 + 1)
    everything = resolve(topic, *bounds("0", "latest"))  # type: ignore[arg-type]
    assert [r.events for r in everything.partitions] == [100, 50, 80]


def test_a_partition_list_must_name_the_same_partitions_on_both_sides() -> None:
    topic = FakeTopic({0: (0, 100), 1: (0, 50)})
    with pytest.raises(ReplayError, match="names partitions"):
        resolve(topic, *bounds("0:1,1:1", "0:5"))  # type: ignore[arg-type]
    with pytest.raises(ReplayError, match="no partition 7"):
        resolve(topic, *bounds("7:0", "latest"))  # type: ignore[arg-type]


def test_offsets_outside_retention_or_beyond_the_end_are_refused() -> None:
    topic = FakeTopic({0: (40, 100), 1: (0, 50)})
    with pytest.raises(ReplayError, match=r"outside retention \(earliest retained offset is 40\)"):
        resolve(topic, *bounds("0", "latest"))  # type: ignore[arg-type]
    with pytest.raises(ReplayError, match="beyond its end"):
        resolve(topic, *bounds("1:0", "1:51"))  # type: ignore[arg-type]


def test_a_start_time_older_than_a_trimmed_partition_is_outside_retention() -> None:
    topic = FakeTopic({0: (40, 100), 1: (0, 50)})
    with pytest.raises(ReplayError, match="outside retention: partition 0"):
        resolve(topic, *bounds(str(topic.base), "latest"))  # type: ignore[arg-type]
    # from a time inside what is retained everywhere, fine; an untrimmed partition (low 0) never refuses
    replay = resolve(topic, *bounds(str(topic.base + 400), "latest"))  # type: ignore[arg-type]
    assert replay.partitions == (PartitionRange(0, 40, 100), PartitionRange(1, 40, 50))


def test_from_after_to_is_refused() -> None:
    topic = FakeTopic({0: (0, 100)})
    with pytest.raises(ReplayError, match="is after --to"):
        resolve(topic, *bounds(str(topic.base + 500), str(topic.base + 100)))  # type: ignore[arg-type]
    with pytest.raises(ReplayError, match=r"after --to .* on partition 0 \(offset 50 > 20\)"):
        resolve(topic, *bounds("50", "20"))  # type: ignore[arg-type]


@pytest.mark.parametrize(("start", "end"), [("30", "30"), ("latest", "latest"), ("earliest", "0")])
def test_an_empty_range_is_refused(start: str, end: str) -> None:
    with pytest.raises(ReplayError, match="empty range"):
        resolve(FakeTopic({0: (0, 100), 1: (0, 40)}), *bounds(start, end))  # type: ignore[arg-type]


def test_a_time_window_with_no_record_is_empty() -> None:
    topic = FakeTopic({0: (0, 100)})
    with pytest.raises(ReplayError, match="empty range"):
        resolve(topic, *bounds(str(topic.base + 5000), str(topic.base + 9000)))  # type: ignore[arg-type]


def test_unreadable_timestamps_widen_the_span_instead_of_failing() -> None:
    class Markers(FakeTopic):
        def timestamps(self, offsets: dict[int, int]) -> dict[int, int]:
            return {}

    replay = resolve(Markers({0: (0, 10)}), *bounds("0", "latest"))  # type: ignore[arg-type]
    assert (replay.start_ms, replay.end_ms) == (0, FAR_FUTURE_MS)


def test_ranges_survive_json() -> None:
    replay = ReplayRange("t", (PartitionRange(0, 1, 5), PartitionRange(3, 0, 9)), 10, 20)
    assert ReplayRange.from_json(replay.to_json()) == replay


ranges_strategy = st.lists(
    st.tuples(st.integers(0, 1000), st.integers(0, 1000)), min_size=1, max_size=6, unique_by=lambda t: t[0]
).map(lambda pairs: tuple(PartitionRange(p, s, s + n) for p, (s, n) in enumerate(pairs)))


@given(ranges_strategy, st.integers(1, 8))
def test_shares_tile_the_ranges_in_at_most_n_near_equal_parts(ranges: tuple[PartitionRange, ...], n: int) -> None:
    cut = shares(ranges, n)
    total = sum(r.events for r in ranges)
    assert len(cut) <= n
    assert all(sum(r.events for r in share) <= -(-total // n) for share in cut)
    pieces = sorted((r for share in cut for r in share), key=lambda r: (r.partition, r.start))
    for r in ranges:  # each partition's pieces chain from its start to its end, no gap, no overlap
        mine = [p for p in pieces if p.partition == r.partition]
        at = r.start
        for piece in mine:
            assert piece.start == at
            assert piece.end > piece.start
            at = piece.end
        assert at == r.end or (r.events == 0 and not mine)
    for share in cut:  # a share holds a partition once at most (one reader position per partition)
        assert len({r.partition for r in share}) == len(share)
