"""The scorer's batch decode: vectorised results equal fastavro's, and every bad record comes back as a failure."""

from __future__ import annotations

import io
import json
import math
import struct
from pathlib import Path
from typing import Any

import numpy as np
from fastavro import parse_schema, schemaless_writer
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.batch import EventBatchDecoder
from schemas.codec import AvroCodec
from schemas.features import AVRO_DIR, encode, load_feature_spec
from schemas.registry import LocalSchemaStore
from schemas.synthetic import TransactionGenerator

SPEC = load_feature_spec("transactions")
SCHEMA = json.loads((AVRO_DIR / "transactions.events.avsc").read_text())
TOPIC = "t.transactions.events"


def _strategy() -> st.SearchStrategy[dict[str, Any]]:
    """Any valid event, including extreme ints, negative numbers and non-ASCII ids."""
    finite = st.floats(allow_nan=False, allow_infinity=False, width=32)
    int32 = st.integers(-(2**31), 2**31 - 1)
    fields: dict[str, st.SearchStrategy[Any]] = {
        "event_id": st.text(max_size=40),
        "entity_id": st.text(max_size=40),
        "event_time": st.integers(-(2**62), 2**62),
        "stream": st.text(max_size=5),
    }
    for field in SCHEMA["fields"][4:]:
        kind = field["type"]
        if isinstance(kind, dict):
            fields[field["name"]] = st.sampled_from(kind["symbols"])
        else:
            fields[field["name"]] = {"double": finite, "int": int32, "boolean": st.booleans()}[kind]
    return st.fixed_dictionaries(fields)


@settings(max_examples=60, deadline=None)
@given(st.lists(_strategy(), min_size=1, max_size=30))
def test_vectorised_decode_equals_fastavro(records: list[dict[str, Any]]) -> None:
    store = LocalSchemaStore()
    codec = AvroCodec(store, TOPIC, "transactions.events")
    batch = EventBatchDecoder(store, "transactions").decode([codec.encode(r) for r in records])
    assert batch.failures == []
    assert batch.positions.tolist() == list(range(len(records)))
    assert batch.event_ids == [r["event_id"] for r in records]
    assert batch.entity_ids == [r["entity_id"] for r in records]
    assert batch.event_times.tolist() == [r["event_time"] for r in records]
    assert np.array_equal(batch.features, encode(SPEC, records))
    assert batch.features.dtype == np.float32
    assert batch.features.flags.c_contiguous


def _values(n: int) -> tuple[AvroCodec, list[dict[str, Any]], list[bytes]]:
    codec = AvroCodec(LocalSchemaStore(), TOPIC, "transactions.events")
    records = TransactionGenerator(seed=2).generate(n).records
    return codec, records, [codec.encode(r) for r in records]


def test_each_bad_record_fails_alone() -> None:
    codec, records, values = _values(12)
    bad: list[bytes | None] = list(values)
    bad[1] = b'{"event_id": "not avro"}'
    bad[2] = values[2][:-3]
    bad[3] = values[3] + b"\x00"
    bad[4] = struct.pack(">bI", 0, 9999) + values[4][5:]
    bad[5] = None
    bad[6] = codec.encode(records[6] | {"amount": math.nan, "velocity_1h": 3}, check=False)
    bad[7] = codec.encode(records[7] | {"distance_from_home_km": 1e300}, check=False)  # inf as float32
    bad[8] = values[8][:-1] + b"\x0f"  # channel enum index 7 (-8 zigzag): no such symbol
    batch = EventBatchDecoder(LocalSchemaStore(), "transactions").decode(bad)
    reasons = {f.position: (f.reason, f.detail) for f in batch.failures}
    assert reasons == {
        1: ("bad-header", "not Confluent wire format"),
        2: ("undecodable", "record truncated"),
        3: ("undecodable", "trailing bytes after the record"),
        4: ("unknown-schema-id", "9999"),
        5: ("bad-header", "not Confluent wire format"),
        6: ("non-finite-feature", "amount"),
        7: ("non-finite-feature", "distance_from_home_km"),
        8: ("unknown-enum-symbol", "channel"),
    }
    assert batch.positions.tolist() == [0, 9, 10, 11]
    assert batch.event_ids == [records[i]["event_id"] for i in (0, 9, 10, 11)]
    assert np.array_equal(batch.features, encode(SPEC, [records[i] for i in (0, 9, 10, 11)]))


def test_invalid_utf8_in_an_id_fails_that_record() -> None:
    _, records, values = _values(3)
    event_id = records[1]["event_id"].encode()
    broken = values[1].replace(event_id, b"\xff" + event_id[1:])
    batch = EventBatchDecoder(LocalSchemaStore(), "transactions").decode([values[0], broken, values[2]])
    assert [(f.position, f.reason) for f in batch.failures] == [(1, "undecodable")]
    assert batch.positions.tolist() == [0, 2]


def _register(
    store_dir: Path, schema: dict[str, Any], current: dict[str, Any] = SCHEMA
) -> tuple[LocalSchemaStore, int]:
    """A store whose history of the events schema is ``schema`` (id 1), then ``current`` (id 2)."""
    (store_dir / "transactions.events.avsc").write_text(json.dumps(current))
    store = LocalSchemaStore(store_dir / "history.json", store_dir)
    old_id = store.append("transactions.events", schema).id
    store.append("transactions.events", current)
    return store, old_id


def _write(schema: dict[str, Any], schema_id: int, record: dict[str, Any]) -> bytes:
    body = io.BytesIO()
    schemaless_writer(body, parse_schema(schema), record)
    return struct.pack(">bI", 0, schema_id) + body.getvalue()


def test_old_writer_versions_resolve_to_the_current_schema(store_dir: Path) -> None:
    """An older writer: no `stream`, an int where a double is now, a symbol the reader dropped, and without a
    feature that was added later with a default."""
    older = json.loads(json.dumps(SCHEMA))
    older["fields"] = [f for f in older["fields"] if f["name"] != "stream"]
    next(f for f in older["fields"] if f["name"] == "amount")["type"] = "int"
    next(f for f in older["fields"] if f["name"] == "merchant_category")["type"]["symbols"].append("crypto")
    current = json.loads(json.dumps(SCHEMA))
    current["fields"].append({"name": "installments", "type": "int", "default": 1})
    store, old_id = _register(store_dir, older, current)
    record = TransactionGenerator(seed=1).generate(1).records[0] | {"amount": 12, "merchant_category": "crypto"}
    del record["stream"]
    new_record = TransactionGenerator(seed=3).generate(1).records[0] | {"installments": 3}
    codec = AvroCodec(store, TOPIC, "transactions.events")
    decoder = EventBatchDecoder(store, "transactions")
    batch = decoder.decode([_write(older, old_id, record), codec.encode(new_record)])
    assert batch.failures == []
    assert decoder.spec.names[-1] == "installments"
    old_row = dict(zip(decoder.spec.names, batch.features[0].tolist(), strict=True))
    assert old_row["amount"] == 12.0
    assert old_row["installments"] == 1.0  # the reader's default
    categories = SPEC.features[SPEC.names.index("merchant_category")].categories
    assert old_row["merchant_category"] == categories.index("other")  # the enum's default
    assert np.array_equal(batch.features[1], encode(decoder.spec, [new_record])[0])


def test_an_unreadable_writer_version_fails_its_records_only(store_dir: Path) -> None:
    broken = json.loads(json.dumps(SCHEMA))
    next(f for f in broken["fields"] if f["name"] == "amount")["type"] = "string"
    store, bad_id = _register(store_dir, broken)
    record = TransactionGenerator(seed=1).generate(1).records[0]
    current = AvroCodec(store, TOPIC, "transactions.events")
    batch = EventBatchDecoder(store, "transactions").decode(
        [_write(broken, bad_id, record | {"amount": "12"}), current.encode(record)]
    )
    assert [(f.position, f.reason) for f in batch.failures] == [(0, "incompatible-schema")]
    assert "amount: type changed from string to double" in batch.failures[0].detail
    assert batch.positions.tolist() == [1]


def test_non_flat_writers_take_the_record_path(store_dir: Path) -> None:
    """A writer with a nullable feature is resolved record by record: values decode, a null fails alone."""
    nullable = json.loads(json.dumps(SCHEMA))
    next(f for f in nullable["fields"] if f["name"] == "customer_age")["type"] = ["null", "int"]
    store, nullable_id = _register(store_dir, nullable)
    records = TransactionGenerator(seed=4).generate(4).records
    values = [_write(nullable, nullable_id, r) for r in records[:2]]
    values.append(_write(nullable, nullable_id, records[2] | {"customer_age": None}))
    values.append(_write(nullable, nullable_id, records[3] | {"amount": math.nan}))
    batch = EventBatchDecoder(store, "transactions").decode(values)
    assert [(f.position, f.reason) for f in batch.failures] == [(2, "incompatible-schema"), (3, "non-finite-feature")]
    assert batch.positions.tolist() == [0, 1]
    assert batch.event_ids == [r["event_id"] for r in records[:2]]
    assert np.array_equal(batch.features, encode(SPEC, records[:2]))
