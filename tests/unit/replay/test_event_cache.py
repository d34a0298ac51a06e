"""The event cache: decoded spans kept and read back exactly, cut into chunks and gaps, keyed so that another
topic incarnation or decoder never reuses them, damaged files dropped, unstable verdicts not kept, size bounded."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from schemas.batch import EventBatchDecoder
from schemas.codec import AvroCodec
from schemas.registry import LocalSchemaStore
from schemas.synthetic import TransactionGenerator
from scorers.replay.decoded import Decoded, concat
from scorers.replay.event_cache import EventCache, Segment
from scorers.replay.ranges import PartitionRange

STREAM = "transactions"


def decoded_span(partition: int, start: int, count: int, bad: tuple[int, ...] = ()) -> Decoded:
    """``count`` records at offsets ``start..``, those at the ``bad`` positions not Avro."""
    codec = AvroCodec(LocalSchemaStore(), f"{STREAM}.events", f"{STREAM}.events")
    values: list[bytes | None] = [codec.encode(r) for r in TransactionGenerator(seed=start).generate(count).records]
    for i in bad:
        values[i] = b"garbage"
    decoder = EventBatchDecoder(LocalSchemaStore(), STREAM)
    offsets = np.arange(start, start + count, dtype=np.int64)
    return Decoded.of(np.full(count, partition, np.int32), offsets, decoder.decode(values), {partition: start + count})


def same(a: Decoded, b: Decoded) -> None:
    np.testing.assert_array_equal(a.partitions, b.partitions)
    np.testing.assert_array_equal(a.offsets, b.offsets)
    assert a.event_ids.equals(b.event_ids)
    assert a.entity_ids.equals(b.entity_ids)
    np.testing.assert_array_equal(a.event_times, b.event_times)
    np.testing.assert_array_equal(a.features, b.features)
    assert a.rejects.equals(b.rejects)
    assert a.advanced == b.advanced


@pytest.fixture
def width() -> int:
    return len(EventBatchDecoder(LocalSchemaStore(), STREAM).spec)


def test_a_stored_span_reads_back_exactly_whole_or_in_part(tmp_path: Path, width: int) -> None:
    span = decoded_span(1, 100, 50, bad=(3, 40))
    assert len(span) == 48
    assert span.rejects.num_rows == 2
    cache = EventCache(tmp_path, "cluster", "topic", "tid", "fp", width)
    assert cache.store(PartitionRange(1, 100, 150), span)
    [whole] = cache.segments(PartitionRange(1, 100, 150))
    read = cache.read(whole)
    assert read is not None
    same(read, span)
    # a replay of a sub-range and one reaching beyond: cached part, then a gap
    inner, gap = cache.segments(PartitionRange(1, 120, 170))
    assert (inner.span, gap) == (PartitionRange(1, 120, 150), Segment(PartitionRange(1, 150, 170), None))
    part = cache.read(inner)
    assert part is not None
    keep = span.offsets >= 120
    np.testing.assert_array_equal(part.offsets, span.offsets[keep])
    np.testing.assert_array_equal(part.features, span.features[keep])
    assert part.rejects.column("offset").to_pylist() == [140]
    assert part.advanced == {1: 150}


def test_another_topic_incarnation_or_decoder_shares_nothing(tmp_path: Path, width: int) -> None:
    EventCache(tmp_path, "cluster", "topic", "tid", "fp", width).store(PartitionRange(0, 0, 20), decoded_span(0, 0, 20))
    for other in (EventCache(tmp_path, "cluster", "topic", "new-tid", "fp", width),
                  EventCache(tmp_path, "cluster", "topic", "tid", "other-schema", width),
                  EventCache(tmp_path, "other-cluster", "topic", "tid", "fp", width)):  # fmt: skip
        assert other.segments(PartitionRange(0, 0, 20)) == [Segment(PartitionRange(0, 0, 20), None)]


def test_a_damaged_or_misnamed_chunk_is_dropped(tmp_path: Path, width: int) -> None:
    cache = EventCache(tmp_path, "cluster", "topic", "tid", "fp", width)
    cache.store(PartitionRange(0, 0, 20), decoded_span(0, 0, 20))
    [segment] = cache.segments(PartitionRange(0, 0, 20))
    assert segment.path is not None
    valid = segment.path.read_bytes()
    segment.path.write_bytes(valid[: len(valid) // 2])
    assert cache.read(segment) is None
    assert not segment.path.exists()
    # a valid file under another span's name (or another decoder's): refused on its metadata
    moved = segment.path.with_name(f"{0:020d}-{19:020d}.arrow")
    moved.write_bytes(valid)
    [found, gap] = cache.segments(PartitionRange(0, 0, 20))
    assert found.path == moved
    assert gap.path is None
    assert cache.read(found) is None
    assert not moved.exists()


def test_a_span_with_a_verdict_that_may_change_is_not_kept(tmp_path: Path, width: int) -> None:
    span = decoded_span(0, 0, 10)
    later = pa.table({"partition": pa.array([0], pa.int32()), "offset": pa.array([10], pa.int64()),
                      "reason": ["unknown-schema-id"], "detail": ["1000000"]})  # fmt: skip
    unstable = Decoded(span.partitions, span.offsets, span.event_ids, span.entity_ids, span.event_times,
                       span.features, later, {0: 11})  # fmt: skip
    cache = EventCache(tmp_path, "cluster", "topic", "tid", "fp", width)
    assert not cache.store(PartitionRange(0, 0, 11), unstable)
    assert cache.segments(PartitionRange(0, 0, 11))[0].path is None


def test_the_least_recently_used_chunks_go_beyond_the_size_bound(tmp_path: Path, width: int) -> None:
    cache = EventCache(tmp_path, "cluster", "topic", "tid", "fp", width, max_bytes=1 << 30)
    cache.store(PartitionRange(0, 0, 200), decoded_span(0, 0, 200))
    size = next(tmp_path.rglob("*.arrow")).stat().st_size
    bounded = EventCache(tmp_path, "cluster", "topic", "tid", "fp", width, max_bytes=int(size * 2.5))
    bounded.store(PartitionRange(1, 0, 200), decoded_span(1, 0, 200))
    [first] = bounded.segments(PartitionRange(0, 0, 200))

    assert first.path is not None
    os.utime(first.path, (1, 1))  # the oldest use
    bounded.store(PartitionRange(2, 0, 200), decoded_span(2, 0, 200))
    left = sorted(p.parent.name for p in tmp_path.rglob("*.arrow"))
    assert left == ["1", "2"]


def test_batches_of_a_span_carry_their_own_rejects_and_offsets(width: int) -> None:
    span = decoded_span(3, 0, 25, bad=(2, 11, 24))
    batches = list(span.batches(3, 10))
    assert [len(b) for b in batches] == [10, 10, 2]
    assert [b.rejects.column("offset").to_pylist() for b in batches] == [[2], [11], [24]]
    assert [b.advanced for b in batches] == [{3: 11}, {3: 22}, {3: 25}]
    same(concat(batches, width), span)
