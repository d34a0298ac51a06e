"""The merge puts events in (partition, offset) order, copying only when the parts are not in it already."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from scorers.replay.results import _in_topic_order


def events(partitions: list[int], offsets: list[int]) -> pa.Table:
    ids = [f"e{p}-{o}" for p, o in zip(partitions, offsets, strict=True)]
    half = len(ids) // 2
    whole = pa.table({"partition": pa.array(partitions, pa.int32()), "offset": pa.array(offsets, pa.int64()),
                      "event_id": ids})  # fmt: skip
    return pa.concat_tables([whole.slice(0, half), whole.slice(half)])  # two parts, as the checkpoint reads them


def test_interleaved_parts_are_sorted_like_sort_by() -> None:
    rng = np.random.default_rng(1)
    rows = [(p, o) for p in range(3) for o in range(100, 140)]
    shuffled = [rows[i] for i in rng.permutation(len(rows))]
    table = events([p for p, _ in shuffled], [o for _, o in shuffled])
    expected = table.sort_by([("partition", "ascending"), ("offset", "ascending")])
    assert _in_topic_order(table).equals(expected)


def test_parts_in_topic_order_are_kept_as_they_are() -> None:
    table = events([0, 0, 0, 1, 1, 2], [5, 6, 9, 0, 1, 7])
    assert _in_topic_order(table) is table
    swapped = events([0, 0, 1, 0, 1, 2], [5, 6, 0, 9, 1, 7])  # one partition out of place
    assert _in_topic_order(swapped).column("offset").to_pylist() == [5, 6, 9, 0, 1, 7]
