"""The one label decoder: column-wise where it can, record by record otherwise, in input order either way."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from fastavro import parse_schema, schemaless_writer

from schemas.codec import HEADER, MAGIC, AvroCodec
from schemas.label_batch import LabelBatchDecoder
from schemas.registry import LocalSchemaStore, schema_fingerprint
from schemas.synthetic import label_record

TOPIC = "transactions.labels"
OLD_ID = 9_001
# An older writer with the fields in another order: it resolves to the current schema but is not column-wise.
OLD_WRITER = {
    "type": "record",
    "name": "Label",
    "namespace": "scorecast.labels",
    "fields": [
        {"name": "label_time", "type": "long"},
        {"name": "label", "type": "int"},
        {"name": "event_id", "type": "string"},
    ],
}


def with_old_writer(store_dir: Path) -> LocalSchemaStore:
    registry = store_dir / "registry.json"
    data = json.loads(registry.read_text())
    old = {"id": OLD_ID, "name": "labels", "fingerprint": schema_fingerprint(OLD_WRITER), "schema": OLD_WRITER}
    data["schemas"].insert(0, old)  # first, so the current version stays the latest one
    registry.write_text(json.dumps(data))
    return LocalSchemaStore(registry, store_dir)


def old_record(event_id: str, label: int, label_time: int) -> bytes:
    body = io.BytesIO()
    record = {"event_id": event_id, "label": label, "label_time": label_time}
    schemaless_writer(body, parse_schema(OLD_WRITER), record)
    return HEADER.pack(MAGIC, OLD_ID) + body.getvalue()


def test_records_of_another_writer_are_decoded_in_their_place(store_dir: Path) -> None:
    store = with_old_writer(store_dir)
    codec = AvroCodec(store, TOPIC, "labels")
    values: list[bytes | None] = [
        old_record("a", 1, 10),
        codec.encode(label_record("b", 0, 20)),
        b"garbage",
        old_record("c", 1, 30),
        codec.encode(label_record("d", 1, 40)),
    ]
    batch = LabelBatchDecoder(store, TOPIC).decode(values)
    assert batch.positions.tolist() == [0, 1, 3, 4]
    assert batch.event_ids.to_pylist() == ["a", "b", "c", "d"]
    assert batch.labels.tolist() == [1, 0, 1, 1]
    assert batch.label_times.tolist() == [10, 20, 30, 40]
    assert batch.unreadable.tolist() == [2]


def test_an_event_id_that_is_not_utf8_makes_only_its_record_unreadable(store: LocalSchemaStore) -> None:
    codec = AvroCodec(store, TOPIC, "labels")
    good = codec.encode(label_record("évent-1", 1, 5))
    assert good is not None
    broken = good.replace("é".encode(), b"\xff\xfe")  # same length: only the bytes are wrong
    batch = LabelBatchDecoder(store, TOPIC).decode([good, broken, codec.encode(label_record("x", 0, 6))])
    assert batch.event_ids.to_pylist() == ["évent-1", "x"]
    assert batch.positions.tolist() == [0, 2]
    assert batch.unreadable.tolist() == [1]
    assert np.array_equal(batch.labels, np.array([1, 0], dtype=np.int8))
