"""The compiled validator agrees with fastavro's validation, and is strict where fastavro's writer is lax."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest
from fastavro import parse_schema
from fastavro.validation import validate
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.registry import load_schema_file
from schemas.synthetic import TransactionGenerator
from schemas.validation import RecordValidator

EVENTS = load_schema_file("transactions.events")
SIGNALS = load_schema_file("signals")
ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.text(max_size=8),
    st.binary(max_size=4),
    st.sampled_from(["pos", "online", "grocery", "DRIFT", "PROMOTE"]),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
)


def _fastavro_says(record: dict[str, Any], schema: dict[str, Any]) -> bool:
    return bool(validate(record, parse_schema(schema), raise_errors=False))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_agrees_with_fastavro_on_events_with_one_field_changed(data: st.DataObject) -> None:
    record = TransactionGenerator(seed=1).generate(1).records[0]
    name = data.draw(st.sampled_from(sorted(record)))
    value = data.draw(ANY_VALUE)
    changed = record | {name: value}
    ours = RecordValidator(EVENTS)(changed)
    if type(value) is bool and name not in ("card_present", "foreign"):
        assert not ours  # fastavro lets True pass as a number; we do not
    elif isinstance(value, float) and value.is_integer() and name in ("hour_of_day", "velocity_1h"):
        assert not ours  # nor 3.0 as an int
    else:
        assert ours == _fastavro_says(changed, EVENTS)


def test_nested_types_use_fastavro() -> None:
    valid = {
        "kind": "DRIFT",
        "model": "fraud",
        "version": 3,
        "baseline_version": None,
        "metric": "psi:amount",
        "value": 0.3,
        "threshold": 0.2,
        "decision": None,
        "evidence": {"n": "5000"},
        "window_start": 0,
        "window_end": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        "emitted_at": 2,
    }
    check = RecordValidator(SIGNALS)
    assert check(valid)
    assert check(valid | {"decision": "PROMOTE"})
    assert not check(valid | {"decision": "MAYBE"})
    assert not check(valid | {"evidence": {"n": 5000}})
    assert not check(valid | {"version": "3"})
    assert check({k: v for k, v in valid.items() if k not in ("evidence", "threshold")})  # defaults


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 1e308, -3.5e38, 2**200])  # finite as float32
def test_finite_fields(bad: float) -> None:
    record = TransactionGenerator(seed=2).generate(1).records[0]
    check = RecordValidator(EVENTS, finite=frozenset({"amount"}))
    assert check(record)
    assert not check(record | {"amount": bad})
    assert check.non_finite(record | {"amount": bad}) == ["amount"]
    assert RecordValidator(EVENTS)(record | {"amount": bad})  # valid Avro all the same


def test_unknown_and_missing_fields() -> None:
    record = TransactionGenerator(seed=3).generate(1).records[0]
    check = RecordValidator(EVENTS)
    assert not check(record | {"surprise": 1})
    assert not check({k: v for k, v in record.items() if k != "event_id"})
    assert check({k: v for k, v in record.items() if k != "stream"})  # it has a default
    assert not check(record | {"channel": ["pos"]})  # unhashable against the enum's symbols
