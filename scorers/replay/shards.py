"""``--shard I/N``: which part of a resolved range one of N machines replays.

The split depends only on the resolved range and N, so every shard computes the same one on its own:
- at least as many partitions as shards: whole partitions, largest first, each to the shard with the fewest
  events so far (the lowest index on a tie): a shard reads its partitions from start to end;
- fewer partitions than shards: the range's offsets cut into N contiguous shares of (nearly) equal size in
  partition order, splitting partitions at offsets (``parallel.shares``).
A shard may get nothing (more shards than events): it writes an empty part, so the merge still sees it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from scorers.replay.errors import ReplayError
from scorers.replay.parallel import shares
from scorers.replay.ranges import PartitionRange

_SHARD = re.compile(r"(\d+)/(\d+)")


@dataclass(frozen=True)
class Shard:
    index: int  # 0-based, as a Kubernetes Indexed Job's JOB_COMPLETION_INDEX
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        match = _SHARD.fullmatch(text.strip())
        if match is None:
            raise ReplayError(f"--shard {text!r} must be I/N with 0 <= I < N (e.g. 0/8)")
        index, count = int(match[1]), int(match[2])
        if count < 1 or index >= count:
            raise ReplayError(f"--shard {text!r} must be I/N with 0 <= I < N (e.g. 0/8)")
        return cls(index, count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def share(self, ranges: tuple[PartitionRange, ...]) -> tuple[PartitionRange, ...]:
        """This shard's ranges, in partition order."""
        return split(ranges, self.count)[self.index]


def split(ranges: tuple[PartitionRange, ...], count: int) -> list[tuple[PartitionRange, ...]]:
    """Every shard's ranges: ``count`` disjoint shares that together are exactly ``ranges``."""
    if len(ranges) >= count:
        loads = [0] * count
        chosen: list[list[PartitionRange]] = [[] for _ in range(count)]
        for r in sorted(ranges, key=lambda r: (-r.events, r.partition)):
            least = min(range(count), key=lambda i: (loads[i], i))
            chosen[least].append(r)
            loads[least] += r.events
        return [tuple(sorted(c, key=lambda r: r.partition)) for c in chosen]
    cut = shares(tuple(r for r in ranges if r.events), count)
    return [*cut, *[()] * (count - len(cut))]
