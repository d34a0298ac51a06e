"""The Confluent wire-format codec: interoperable bytes, validation naming fields, old ids stay readable."""

from __future__ import annotations

import io
import json
import math
import struct
from pathlib import Path
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer

from schemas.codec import AvroCodec, schema_id_of
from schemas.errors import RecordValidationError, SchemaError, UnknownSchemaIdError, WireFormatError
from schemas.features import load_feature_spec
from schemas.registry import LocalSchemaStore
from schemas.synthetic import TransactionGenerator

TOPIC = "t.transactions.events"
FEATURES = frozenset(f.name for f in load_feature_spec("transactions").features if f.kind == "numeric")


def _event(seed: int = 1) -> dict[str, Any]:
    return TransactionGenerator(seed=seed).generate(1).records[0]


def test_independent_wire_bytes_decode_and_ours_decode_with_plain_fastavro(store: LocalSchemaStore) -> None:
    codec = AvroCodec(store, TOPIC, "transactions.events")
    schema = parse_schema(store.current("transactions.events"))
    record = _event()
    body = io.BytesIO()
    schemaless_writer(body, schema, record)
    theirs = struct.pack(">bI", 0, codec.schema_id) + body.getvalue()
    decoded = codec.decode(theirs)
    assert decoded == record  # timestamps come back as int epoch milliseconds

    ours = codec.encode(record)
    magic, schema_id = struct.unpack(">bI", ours[:5])
    assert (magic, schema_id) == (0, codec.schema_id)
    plain = schemaless_reader(io.BytesIO(ours[5:]), schema, None)
    assert isinstance(plain, dict)
    assert plain["event_time"].timestamp() * 1000 == record["event_time"]
    assert {k: v for k, v in plain.items() if k != "event_time"} == {
        k: v for k, v in record.items() if k != "event_time"
    }


def test_validation_names_every_bad_field(store: LocalSchemaStore) -> None:
    codec = AvroCodec(store, TOPIC, "transactions.events", finite=FEATURES)
    record = _event()
    del record["amount"]
    record.update(hour_of_day=1.5, card_present=1, channel="teleport", velocity_1h=True, ammount=3.0)
    with pytest.raises(RecordValidationError) as caught:
        codec.encode(record)
    assert set(caught.value.fields) == {"amount", "ammount", "card_present", "channel", "hour_of_day", "velocity_1h"}
    assert "amount: missing" in str(caught.value)
    assert "Channel (one of pos, online, atm, mobile)" in str(caught.value)


def test_non_finite_features_are_refused_and_defaults_may_be_left_out(store: LocalSchemaStore) -> None:
    codec = AvroCodec(store, TOPIC, "transactions.events", finite=FEATURES)
    record = _event() | {"amount": math.inf}
    with pytest.raises(RecordValidationError, match="amount: must be finite"):
        codec.encode(record)
    without_default = _event()
    del without_default["stream"]
    assert codec.decode(codec.encode(without_default))["stream"] == "transactions"


def test_not_our_bytes(store: LocalSchemaStore) -> None:
    codec = AvroCodec(store, TOPIC, "transactions.events")
    good = codec.encode(_event())
    with pytest.raises(WireFormatError):
        codec.decode(b'{"event_id": "json?"}')
    with pytest.raises(UnknownSchemaIdError):
        codec.decode(struct.pack(">bI", 0, 4242) + good[5:])
    with pytest.raises(WireFormatError, match="undecodable"):
        codec.decode(good[:-4])
    with pytest.raises(WireFormatError, match="trailing"):
        codec.decode(good + b"\x00")
    assert schema_id_of(good) == codec.schema_id


def test_a_changed_schema_needs_registering(store: LocalSchemaStore, store_dir: Path) -> None:
    path = store_dir / "labels.avsc"
    schema = json.loads(path.read_text())
    schema["fields"].append({"name": "source", "type": "string", "default": "chargeback"})
    path.write_text(json.dumps(schema))
    codec = AvroCodec(store, "t.transactions.labels", "labels")  # decoding needs no id of the current schema
    with pytest.raises(SchemaError, match="scorecast schemas register"):
        codec.encode({"event_id": "e1", "entity_id": None, "label": 1, "label_time": 5, "source": "x"})


def test_old_ids_stay_readable_after_a_compatible_change(store: LocalSchemaStore, store_dir: Path) -> None:
    old = AvroCodec(store, "t.transactions.labels", "labels")
    old_bytes = old.encode({"event_id": "e1", "entity_id": None, "label": 1, "label_time": 5})
    schema = json.loads((store_dir / "labels.avsc").read_text())
    schema["fields"].append({"name": "source", "type": "string", "default": "chargeback"})
    (store_dir / "labels.avsc").write_text(json.dumps(schema))
    new_id = store.append("labels", schema).id
    reopened = LocalSchemaStore(store_dir / "registry.json", store_dir)
    new = AvroCodec(reopened, "t.transactions.labels", "labels")
    assert new.schema_id == new_id != old.schema_id
    assert new.decode(old_bytes) == {
        "event_id": "e1",
        "entity_id": None,
        "label": 1,
        "label_time": 5,
        "source": "chargeback",
    }
    assert new.decode(new.encode({"event_id": "e2", "label": 0, "label_time": 6, "source": "manual"}))["source"] == (
        "manual"
    )
