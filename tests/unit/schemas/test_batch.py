"""The scorer's batch decode: vectorised results equal fastavro's, and every bad record comes back as a failure."""

from __future__ import annotations

import io
import json
import math
import struct
import time
from pathlib import Path
from typing import Any

import numpy as np
from fastavro import parse_schema, schemaless_writer
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import columnar
from schemas.batch import EventBatchDecoder
from schemas.codec import AvroCodec
from schemas.features import AVRO_DIR, encode, load_feature_spec
from schemas.registry import LocalSchemaStore
from schemas.rules import ID_BYTES, ID_MAX_LENGTH, MIN_EVENT_TIME_MS, EventRules
from schemas.synthetic import TransactionGenerator

SPEC = load_feature_spec("transactions")
SCHEMA = json.loads((AVRO_DIR / "transactions.events.avsc").read_text())
TOPIC = "t.transactions.events"


ID_TEXT = st.text(alphabet=ID_BYTES.decode(), min_size=1, max_size=ID_MAX_LENGTH)


VALID_TIMES = st.integers(MIN_EVENT_TIME_MS, int(time.time() * 1000))


def _strategy(
    ids: st.SearchStrategy[str] = ID_TEXT, times: st.SearchStrategy[int] = VALID_TIMES
) -> st.SearchStrategy[dict[str, Any]]:
    """Any event of the schema, including extreme ints, negative numbers and non-ASCII strings; by default one
    the rules accept."""
    finite = st.floats(allow_nan=False, allow_infinity=False, width=32)
    int32 = st.integers(-(2**31), 2**31 - 1)
    fields: dict[str, st.SearchStrategy[Any]] = {
        "event_id": ids,
        "entity_id": ids,
        "event_time": times,
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
    assert [(f.position, f.reason, f.detail) for f in batch.failures] == [
        (1, "invalid-utf8", "event_id is not valid UTF-8")
    ]
    assert batch.positions.tolist() == [0, 2]


def _with_stream(value: bytes, stream: bytes) -> bytes:
    """An encoded record whose `stream` string (written as "transactions") is replaced by raw bytes."""
    old = b"\x18transactions"  # zigzag length 12, then the text
    assert value.count(old) == 1
    return value.replace(old, bytes([len(stream) * 2]) + stream)


# Each kind of record that breaks a rule, with the reason and the start of the detail the scorer gives.
OUT_OF_RULE: list[tuple[dict[str, Any], str, str]] = [
    ({"entity_id": "card 1/x"}, "invalid-entity-id", "'card 1/x' has ' '"),
    ({"entity_id": ""}, "invalid-entity-id", "empty"),
    ({"entity_id": "c" * 129}, "invalid-entity-id", "129 characters"),
    ({"entity_id": "c" * 70_000}, "invalid-entity-id", "70000 characters"),
    ({"entity_id": "ca\u0301rd"}, "invalid-entity-id", "'ca\u0301rd' has '\u0301'"),  # a combining accent
    ({"event_id": ""}, "invalid-event-id", "empty"),
    ({"event_id": "e" * 129}, "invalid-event-id", "129 characters"),
    ({"event_id": "e/1"}, "invalid-event-id", "'e/1' has '/'"),
    ({"event_time": 7_258_118_400_000}, "event-time-out-of-range", "2200-01-01T00:00:00.000Z is after now"),
    ({"event_time": 2**60}, "event-time-out-of-range", f"epoch ms {2**60} is after now"),
    ({"event_time": -(2**62)}, "event-time-out-of-range", f"epoch ms {-(2**62)} is before 2000-01-01"),
    ({"event_time": MIN_EVENT_TIME_MS - 1}, "event-time-out-of-range", "1999-12-31T23:59:59.999Z is before"),
    ({"amount": 1e308}, "non-finite-feature", "amount"),
]


def _out_of_rule_values(codec: AvroCodec, write: Any = None) -> tuple[list[bytes], list[dict[str, Any]]]:
    """Good records at even positions, then each kind of bad record, then a `stream` of invalid UTF-8."""
    records = TransactionGenerator(seed=7).generate(2 * len(OUT_OF_RULE) + 2).records
    encode_one = write or (lambda r: codec.encode(r, check=False))
    values = []
    for k, (changes, _, _) in enumerate(OUT_OF_RULE):
        values += [encode_one(records[2 * k]), encode_one(records[2 * k + 1] | changes)]
    values += [encode_one(records[-2]), _with_stream(encode_one(records[-1]), b"tr\xc3")]
    return values, records


def _assert_out_of_rule_failures(batch: Any, records: list[dict[str, Any]]) -> None:
    found = [(f.position, f.reason) for f in batch.failures]
    expected = [(2 * k + 1, reason) for k, (_, reason, _) in enumerate(OUT_OF_RULE)]
    assert found == [*expected, (len(records) - 1, "invalid-utf8")]
    for failure, (_, _, detail) in zip(batch.failures, OUT_OF_RULE, strict=False):
        assert failure.detail.startswith(detail), failure
    assert batch.failures[-1].detail == "stream is not valid UTF-8"
    good = list(range(0, len(records), 2))
    assert batch.positions.tolist() == good
    assert batch.event_ids == [records[i]["event_id"] for i in good]
    assert np.array_equal(batch.features, encode(SPEC, [records[i] for i in good]))


def test_records_out_of_rule_fail_with_their_reason() -> None:
    codec = AvroCodec(LocalSchemaStore(), TOPIC, "transactions.events")
    values, records = _out_of_rule_values(codec)
    batch = EventBatchDecoder(LocalSchemaStore(), "transactions").decode(values)
    _assert_out_of_rule_failures(batch, records)


def test_records_out_of_rule_fail_alike_on_the_record_path(store_dir: Path) -> None:
    """A non-flat writer (fastavro record by record) applies the same rules with the same reasons."""
    nullable = json.loads(json.dumps(SCHEMA))
    next(f for f in nullable["fields"] if f["name"] == "customer_age")["type"] = ["null", "int"]
    store, nullable_id = _register(store_dir, nullable)
    codec = AvroCodec(store, TOPIC, "transactions.events")
    values, records = _out_of_rule_values(codec, lambda r: _write(nullable, nullable_id, r))
    _assert_out_of_rule_failures(EventBatchDecoder(store, "transactions").decode(values), records)


def test_the_allowed_clock_skew_bounds_future_event_times() -> None:
    now_s = time.time()
    codec = AvroCodec(LocalSchemaStore(), TOPIC, "transactions.events")
    record = TransactionGenerator(seed=8).generate(1).records[0]
    ahead = [int((now_s + s) * 1000) for s in (0, 59, 61, 3600)]
    values = [codec.encode(record | {"event_time": t}) for t in ahead]
    rules = EventRules(max_clock_skew_s=60.0, clock=lambda: now_s)
    batch = EventBatchDecoder(LocalSchemaStore(), "transactions", rules=rules).decode(values)
    assert [(f.position, f.reason) for f in batch.failures] == [
        (2, "event-time-out-of-range"),
        (3, "event-time-out-of-range"),
    ]
    assert "allowed clock skew of 60 s" in batch.failures[0].detail
    assert batch.positions.tolist() == [0, 1]


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        _strategy(
            ids=st.one_of(ID_TEXT, st.text(max_size=ID_MAX_LENGTH + 2)),
            times=st.one_of(
                st.integers(-(2**63), 2**63 - 1), st.integers(MIN_EVENT_TIME_MS - 5, MIN_EVENT_TIME_MS + 5)
            ),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_the_decoder_applies_the_rules_exactly(records: list[dict[str, Any]]) -> None:
    """Vectorised over columns or not, a record fails with the first rule `EventRules.violations` names."""
    rules = EventRules(clock=lambda: 1_780_000_000.0)
    codec = AvroCodec(LocalSchemaStore(), TOPIC, "transactions.events")
    values = [codec.encode(r) for r in records]
    batch = EventBatchDecoder(LocalSchemaStore(), "transactions", rules=rules).decode(values)
    expected = {}
    for i, r in enumerate(records):
        violations = rules.violations(r)
        if violations:
            expected[i] = (violations[0].reason, violations[0].detail)
    assert {f.position: (f.reason, f.detail) for f in batch.failures} == expected
    assert batch.positions.tolist() == [i for i in range(len(records)) if i not in expected]


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


def test_string_spans_join_alike_at_one_width_or_many() -> None:
    raw = b"..abc..xyz..defg..h......"
    buf = np.frombuffer(raw + bytes(16), dtype=np.uint8)
    fixed = (np.array([2, 7]), np.array([5, 10]))
    varied = (np.array([2, 12, 18, 20]), np.array([5, 16, 19, 20]))
    assert columnar.joined(buf, *fixed) == b"abc\nxyz\n"
    assert columnar.joined(buf, *varied) == b"abc\ndefg\nh\n\n"
    assert columnar.joined(buf, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)) == b""


def test_long_strings_are_checked_without_one_big_gather() -> None:
    """Past a MiB of string bytes per column the check goes span by span; a 70,000-character id is not gathered."""
    codec = AvroCodec(LocalSchemaStore(), TOPIC, "transactions.events")
    records = TransactionGenerator(seed=9).generate(20).records
    values = [codec.encode(r | {"stream": "s" * 60_000}) for r in records]
    values[3] = values[3].replace(b"s" * 10, b"s" * 8 + b"\xc3\x28", 1)  # an invalid two-byte sequence
    values[5] = codec.encode(records[5] | {"entity_id": "c" * 70_000, "stream": "s" * 60_000})
    batch = EventBatchDecoder(LocalSchemaStore(), "transactions").decode(values)
    assert [(f.position, f.reason) for f in batch.failures] == [(3, "invalid-utf8"), (5, "invalid-entity-id")]
    assert batch.positions.tolist() == [i for i in range(20) if i not in (3, 5)]
