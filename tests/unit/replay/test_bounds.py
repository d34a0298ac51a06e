"""The --from/--to grammar and label-horizon durations."""

from __future__ import annotations

import pytest

from scorers.replay.bounds import EdgeBound, OffsetBound, TimeBound, describe, parse_bound, parse_duration
from scorers.replay.errors import ReplayError


def test_iso_times_with_and_without_a_zone_are_utc_milliseconds() -> None:
    assert parse_bound("2026-01-01T00:00:00Z", "--from") == TimeBound(1_767_225_600_000, "2026-01-01T00:00:00Z")
    assert parse_bound("2026-01-01T00:00:01", "--from").ms == 1_767_225_601_000  # type: ignore[union-attr]
    assert parse_bound("2026-01-01T02:00:00+02:00", "--to").ms == 1_767_225_600_000  # type: ignore[union-attr]


def test_large_integers_are_epoch_milliseconds_small_ones_offsets() -> None:
    assert parse_bound("1767225600000", "--from") == TimeBound(1_767_225_600_000, "1767225600000")
    assert parse_bound("99999999999", "--from") == OffsetBound(every=99_999_999_999)
    assert parse_bound("0", "--from") == OffsetBound(every=0)


def test_per_partition_offsets_are_sorted_by_partition() -> None:
    bound = parse_bound("1:200, 0:100", "--from")
    assert bound == OffsetBound(offsets=((0, 100), (1, 200)))
    assert isinstance(bound, OffsetBound)
    assert bound.partitions == (0, 1)
    assert bound.offset(1) == 200
    assert bound.offset(2) is None
    assert describe(bound) == "0:100,1:200"


def test_edges() -> None:
    assert parse_bound("earliest", "--from") == EdgeBound("earliest")
    assert parse_bound(" latest ", "--to") == EdgeBound("latest")


@pytest.mark.parametrize("text", ["yesterday", "0:1,0:2", "-5", "1:a", "2026-13-01", ""])
def test_anything_else_is_refused_naming_the_option(text: str) -> None:
    with pytest.raises(ReplayError, match="--to"):
        parse_bound(text, "--to")


@pytest.mark.parametrize(
    ("text", "ms"), [("7d", 604_800_000), ("12h", 43_200_000), ("30m", 1_800_000), ("90s", 90_000), ("250ms", 250),
                     ("1500", 1500), ("1.5h", 5_400_000)]
)  # fmt: skip
def test_durations(text: str, ms: int) -> None:
    assert parse_duration(text, "--label-horizon") == ms


@pytest.mark.parametrize("text", ["7 days", "-1d", "d", "1w"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ReplayError, match="--label-horizon"):
        parse_duration(text, "--label-horizon")
