"""Reading `scorecast produce` input: line numbers, conversions by field type, bad lines as values."""

from __future__ import annotations

import json

from schemas.registry import load_schema_file
from schemas.sources import parse_csv, parse_jsonl

SCHEMA = load_schema_file("transactions.events")


def test_jsonl_keeps_line_numbers_and_reports_bad_lines() -> None:
    lines = ['{"a": 1}\n', "\n", "[1, 2]\n", "{oops\n", '{"b": 2}\n']
    parsed = list(parse_jsonl(lines))
    assert [(p.line, p.record is None) for p in parsed] == [(1, False), (3, True), (4, True), (5, False)]
    assert parsed[1].error == "expected a JSON object, got list"
    assert parsed[2].error.startswith("not JSON")
    assert parsed[2].raw == "{oops"


def test_csv_cells_are_converted_by_field_type() -> None:
    header = "event_id,entity_id,event_time,amount,hour_of_day,card_present,foreign,channel"
    rows = [
        header,
        "e1,c1,1767225600000,12.5,3,true,0,online",
        "e2,c2,2026-01-01T00:00:01,7,23,FALSE,yes,pos",
        "e3,c3,,x,4,maybe,1,atm",
        "e4,c4,5,1,1,true,false,pos,extra",
    ]
    parsed = list(parse_csv(rows, SCHEMA))
    assert parsed[0].record == {
        "event_id": "e1",
        "entity_id": "c1",
        "event_time": 1767225600000,
        "amount": 12.5,
        "hour_of_day": 3,
        "card_present": True,
        "foreign": False,
        "channel": "online",
    }
    assert parsed[1].record is not None
    assert parsed[1].record["event_time"] == 1767225601000  # naive ISO times are UTC
    assert (parsed[1].record["card_present"], parsed[1].record["foreign"]) == (False, True)
    assert parsed[2].record is None
    assert "amount: could not convert string to float: 'x'" in parsed[2].error
    assert "card_present: 'maybe' is not a boolean" in parsed[2].error
    assert parsed[3].error == "row has more cells than the header"
    assert [p.line for p in parsed] == [2, 3, 4, 5]


def test_an_empty_cell_leaves_the_field_out() -> None:
    parsed = list(parse_csv(["event_id,stream", "e1,"], SCHEMA))
    assert parsed[0].record == {"event_id": "e1"}
    assert json.dumps(parsed[0].record)
