"""Label records decoded column-wise (same answer as the codec), the label horizon, and the first label."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from schemas.codec import AvroCodec
from schemas.registry import LocalSchemaStore
from schemas.synthetic import TransactionGenerator, label_record, label_records
from scorers.replay.labels import LabelColumns, LabelDecoder, join_labels, label_ranges
from scorers.replay.ranges import PartitionRange

TOPIC = "transactions.labels"


def encode(records: list[dict[str, object]]) -> list[bytes | None]:
    codec = AvroCodec(LocalSchemaStore(), TOPIC, "labels")
    return [codec.encode(r) for r in records]


def decode(values: list[bytes | None]) -> tuple[pa.Table, int]:
    columns = LabelColumns()
    n = len(values)
    LabelDecoder(LocalSchemaStore(), TOPIC).add(
        columns, values, np.zeros(n, dtype=np.int32), np.arange(n, dtype=np.int64)
    )
    return columns.table(), columns.unreadable


def test_column_wise_decoding_agrees_with_the_codec() -> None:
    records = label_records(TransactionGenerator(seed=4).generate(2_000))
    for i in range(0, len(records), 3):  # labels without an entity id take the other union branch
        records[i] = {**records[i], "entity_id": None}
    records.append(label_record("ünïcode-€vent", -3, 2**40))
    table, unreadable = decode(encode(records))
    assert unreadable == 0
    assert table.column("event_id").to_pylist() == [r["event_id"] for r in records]
    assert table.column("label").to_pylist() == [r["label"] for r in records]
    assert table.column("label_time").to_pylist() == [r["label_time"] for r in records]
    assert table.column("offset").to_pylist() == list(range(len(records)))


def test_garbage_is_counted_and_the_rest_kept() -> None:
    good = encode([label_record("a", 1, 5), label_record("b", 0, 6)])
    assert good[0] is not None
    truncated = good[0][:-2]
    unknown_id = b"\x00\x00\x01\x86\xa0" + good[0][5:]
    trailing = good[0] + b"\x00"
    table, unreadable = decode([good[0], b"nope", None, truncated, unknown_id, trailing, good[1]])
    assert table.column("event_id").to_pylist() == ["a", "b"]
    assert table.column("offset").to_pylist() == [0, 6]
    assert unreadable == 5


def labels(rows: list[tuple[str, int, int, int, int]]) -> pa.Table:
    names = ["event_id", "label", "label_time", "partition", "offset"]
    columns = list(zip(*rows, strict=True))
    types = [pa.string(), pa.int8(), pa.int64(), pa.int32(), pa.int64()]
    return pa.table({n: pa.array(c, t) for n, c, t in zip(names, columns, types, strict=True)})


def test_an_event_gets_its_first_label_if_it_came_within_the_horizon() -> None:
    table = labels(
        [
            ("a", 0, 900, 0, 5),  # a: a later correction
            ("a", 1, 300, 1, 9),  # a: the first label (earliest label_time, though read later)
            ("b", 1, 200, 0, 1),
            ("c", 1, 5000, 0, 2),  # c: beyond the horizon
            ("d", 0, 400, 1, 3),
            ("d", 1, 400, 0, 4),  # d: same time, lower partition first
        ]
    )
    ids = pa.array(["a", "b", "c", "d", "e"])
    times = np.array([100, 100, 100, 100, 100])
    label, known = join_labels(ids, times, table, horizon_ms=1000)
    assert known.tolist() == [True, True, False, True, False]
    assert label[known].tolist() == [1, 1, 1]


def test_without_labels_nothing_is_known() -> None:
    label, known = join_labels(pa.array(["a"]), np.array([1]), labels([("z", 1, 1, 0, 0)]).slice(0, 0), 10)
    assert not known.any()
    assert label.tolist() == [0]


class Topic:
    topic = "t.labels"

    def partitions(self) -> tuple[int, ...]:
        return (0, 1)

    def watermarks(self, partition: int) -> tuple[int, int]:
        return (10, 100) if partition == 0 else (0, 50)

    def offsets_for_time(self, ms: int) -> dict[int, int]:
        return {0: 5 if ms < 1000 else -1, 1: 20 if ms < 1000 else 45}

    def timestamps(self, offsets: dict[int, int]) -> dict[int, int]:
        return {}


def test_the_label_window_runs_from_the_range_start_to_end_plus_horizon_capped_at_the_topic() -> None:
    assert label_ranges(Topic(), 500, 5000) == (PartitionRange(0, 10, 100), PartitionRange(1, 20, 45))


def test_a_label_whose_event_id_is_not_utf8_is_counted_not_raised() -> None:
    good = encode([label_record("évent", 1, 5), label_record("b", 0, 6)])
    assert good[0] is not None
    broken = good[0].replace("é".encode(), b"\xff\xfe")
    table, unreadable = decode([broken, good[1]])
    assert table.column("event_id").to_pylist() == ["b"]
    assert table.column("offset").to_pylist() == [1]
    assert unreadable == 1


def test_the_join_agrees_with_a_plain_first_label_lookup_on_random_duplicates() -> None:
    rng = np.random.default_rng(8)
    n_labels, n_events = 3_000, 2_000
    rows = [
        (f"e{rng.integers(0, 2_500)}", int(rng.integers(0, 2)), int(rng.integers(0, 500)), int(p), int(o))
        for o, p in enumerate(rng.integers(0, 3, n_labels))
    ]
    table = labels(rows)
    ids = [f"e{i}" for i in rng.integers(0, 3_000, n_events)]
    times = rng.integers(0, 400, n_events)
    first: dict[str, tuple[int, int, int, int]] = {}  # id -> (label_time, partition, offset, label)
    for event_id, value, label_time, partition, offset in rows:
        first[event_id] = min(first.get(event_id, (label_time, partition, offset, value)),
                              (label_time, partition, offset, value))  # fmt: skip
    label, known = join_labels(pa.array(ids), times, table, horizon_ms=50)
    for i, event_id in enumerate(ids):
        expected = event_id in first and first[event_id][0] <= times[i] + 50
        assert known[i] == expected
        if expected:
            assert label[i] == first[event_id][3]
