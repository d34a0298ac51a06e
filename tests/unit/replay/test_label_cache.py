"""The label cache by topic span: what it holds is served, what it lacks is named as gaps to read."""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pytest
from confluent_kafka import KafkaError, KafkaException

from scorecast.settings import Settings
from scorers.replay import label_cache
from scorers.replay.label_cache import LabelCache
from scorers.replay.labels import LABEL_SCHEMA
from scorers.replay.ranges import PartitionRange


def rows(partition: int, start: int, end: int, unreadable: tuple[int, ...] = ()) -> pa.Table:
    offsets = list(range(start, end))
    ids = [None if o in unreadable else f"e{o}" for o in offsets]
    arrays = [pa.array(ids, pa.string()), pa.array([o % 2 for o in offsets], pa.int8()),
              pa.array([1000 + o for o in offsets], pa.int64()), pa.array([partition] * len(offsets), pa.int32()),
              pa.array(offsets, pa.int64())]  # fmt: skip
    return pa.Table.from_arrays(arrays, schema=LABEL_SCHEMA)


def cache(root: Path, topic_id: str = "T1") -> LabelCache:
    return LabelCache(root, "cluster", "s.labels", topic_id)


def offsets(tables: list[pa.Table]) -> list[int]:
    return [o for t in tables for o in t.column("offset").to_pylist()]


def test_an_empty_cache_reads_everything(tmp_path: Path) -> None:
    ranges = (PartitionRange(0, 10, 20), PartitionRange(1, 0, 5))
    found, gaps = cache(tmp_path).lookup(ranges)
    assert found == []
    assert gaps == list(ranges)


def test_held_spans_are_served_and_only_the_rest_is_read(tmp_path: Path) -> None:
    labels = cache(tmp_path)
    labels.store(PartitionRange(0, 100, 200), rows(0, 100, 200, unreadable=(150,)))
    labels.store(PartitionRange(0, 250, 300), rows(0, 250, 300))
    found, gaps = labels.lookup((PartitionRange(0, 50, 280), PartitionRange(1, 0, 10)))
    assert offsets(found) == [*range(100, 200), *range(250, 280)]
    assert sum(t.column("event_id").null_count for t in found) == 1  # unreadable records stay counted
    assert gaps == [PartitionRange(0, 50, 100), PartitionRange(0, 200, 250), PartitionRange(1, 0, 10)]
    found, gaps = labels.lookup((PartitionRange(0, 120, 130),))
    assert (offsets(found), gaps) == (list(range(120, 130)), [])


def test_overlapping_chunks_give_each_record_once(tmp_path: Path) -> None:
    labels = cache(tmp_path)
    labels.store(PartitionRange(0, 0, 60), rows(0, 0, 60))
    labels.store(PartitionRange(0, 40, 100), rows(0, 40, 100))  # written by a replay that ran alongside
    found, gaps = labels.lookup((PartitionRange(0, 0, 100),))
    assert (offsets(found), gaps) == (list(range(100)), [])


def test_a_topic_created_again_under_its_name_shares_nothing(tmp_path: Path) -> None:
    cache(tmp_path, "T1").store(PartitionRange(0, 0, 10), rows(0, 0, 10))
    found, gaps = cache(tmp_path, "T2").lookup((PartitionRange(0, 0, 10),))
    assert (found, gaps) == ([], [PartitionRange(0, 0, 10)])


def test_a_damaged_chunk_is_dropped_and_read_again(tmp_path: Path) -> None:
    labels = cache(tmp_path)
    labels.store(PartitionRange(0, 0, 10), rows(0, 0, 10))
    (chunk,) = (labels.directory / "0").glob("*.arrow")
    chunk.write_bytes(b"not arrow")
    found, gaps = labels.lookup((PartitionRange(0, 0, 10),))
    assert (found, gaps) == ([], [PartitionRange(0, 0, 10)])
    assert not chunk.exists()


class FlakyAdmin:
    """An admin client whose first metadata request fails retriably (a broker busy or electing), as a double."""

    calls = 0

    def __init__(self, config: dict[str, object]) -> None:
        pass

    def list_topics(self, topic: str, timeout: float) -> object:
        FlakyAdmin.calls += 1
        if FlakyAdmin.calls == 1:
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "metadata request timed out", retriable=True))
        return SimpleNamespace(cluster_id="cluster-1")

    def describe_topics(self, topics: object, request_timeout: float) -> dict[str, Future[object]]:
        described: Future[object] = Future()
        described.set_result(SimpleNamespace(topic_id="topic-id-1"))
        return {"t.events": described}


def test_a_retriable_metadata_error_is_asked_again_instead_of_giving_up_caching(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(label_cache, "AdminClient", FlakyAdmin)
    assert label_cache.topic_identity(Settings(), "t.events") == ("cluster-1", "topic-id-1")
    assert FlakyAdmin.calls == 2
