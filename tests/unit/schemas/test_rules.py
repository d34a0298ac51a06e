"""The event rules: ids, event time bounds, UTF-8 and float32 finiteness, as the producer and decoder see them."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from schemas.rules import (
    EVENT_TIME_OUT_OF_RANGE,
    FLOAT32_LIMIT,
    ID,
    ID_BYTES,
    INVALID_ENTITY_ID,
    INVALID_EVENT_ID,
    INVALID_UTF8,
    MAX_EVENT_TIME_MS,
    MIN_EVENT_TIME_MS,
    EventRules,
    fits_float32,
    id_problem,
)
from scorecast.settings import Settings

NOW_S = 1_780_000_000.0  # 2026-05-28
RULES = EventRules(max_clock_skew_s=300.0, clock=lambda: NOW_S)
NOW_MS = int(NOW_S * 1000)


@pytest.mark.parametrize("good", ["card-000001", "a", "x" * 128, "user@example.com", "urn:a.b_c-d", "0"])
def test_ids_of_the_charset_up_to_128_characters_are_valid(good: str) -> None:
    assert id_problem(good) is None


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ("", "empty"),
        ("x" * 129, "129 characters"),
        ("x" * 70_000, "70000 characters"),
        ("card 1/x", "' '"),
        ("a/b", "'/'"),
        ("é", "'é'"),
        ("a\n", "'\\n'"),
        (b"\xffab", "not valid UTF-8"),
        (17, "expected a string"),
    ],
)
def test_other_ids_are_refused_with_what_is_wrong(bad: object, says: str) -> None:
    problem = id_problem(bad)
    assert problem is not None
    assert says in problem


def test_the_allowed_bytes_are_the_pattern_s_characters() -> None:
    assert ID_BYTES == b"-.0123456789:@ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
    assert all(ID.fullmatch(chr(b)) for b in ID_BYTES)
    assert not any(ID.fullmatch(chr(c)) for c in range(0x110000) if c > 127)


def test_event_times_from_2000_to_now_plus_skew_are_valid() -> None:
    assert RULES.event_time_bounds() == (MIN_EVENT_TIME_MS, NOW_MS + 300_000)
    bounds = RULES.event_time_bounds()
    for millis in (MIN_EVENT_TIME_MS, NOW_MS, NOW_MS + 300_000):
        assert RULES.event_time_problem(millis, bounds) is None


@pytest.mark.parametrize(
    ("millis", "says"),
    [
        (MIN_EVENT_TIME_MS - 1, "1999-12-31T23:59:59.999Z is before 2000-01-01T00:00:00.000Z"),
        (NOW_MS + 300_001, "is after now + the allowed clock skew of 300 s"),
        (7_258_118_400_000, "2200-01-01T00:00:00.000Z is after"),  # year 2200
        (2**60, f"epoch ms {2**60} is after"),
        (-(2**62), f"epoch ms {-(2**62)} is before"),
        (0, "1970-01-01T00:00:00.000Z is before"),
    ],
)
def test_event_times_out_of_range_are_refused(millis: int, says: str) -> None:
    problem = RULES.event_time_problem(millis, RULES.event_time_bounds())
    assert problem is not None
    assert says in problem


def test_a_huge_skew_still_ends_at_year_9999() -> None:
    assert EventRules(max_clock_skew_s=1e12, clock=lambda: NOW_S).event_time_bounds()[1] == MAX_EVENT_TIME_MS


def test_float32_finiteness_is_numpy_s_cast() -> None:
    below = np.nextafter(FLOAT32_LIMIT, 0.0)
    with np.errstate(over="ignore"):
        assert np.isfinite(np.float32(below))
        assert np.isinf(np.float32(FLOAT32_LIMIT))
    assert fits_float32(below)
    assert fits_float32(-below)
    for bad in (FLOAT32_LIMIT, -FLOAT32_LIMIT, 1e308, float("inf"), float("nan")):
        assert not fits_float32(bad)
    assert fits_float32(3.4e38)


def _record(**changes: object) -> dict[str, object]:
    return {"event_id": "e-1", "entity_id": "card-1", "event_time": NOW_MS, "stream": "transactions"} | changes


def test_a_valid_record_has_no_violations() -> None:
    assert RULES.violations(_record()) == []
    assert RULES.violations(_record(event_time=dt.datetime.fromtimestamp(NOW_S, dt.UTC))) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"entity_id": "card 1/x"}, [("entity_id", INVALID_ENTITY_ID)]),
        ({"entity_id": ""}, [("entity_id", INVALID_ENTITY_ID)]),
        ({"event_id": "x" * 129}, [("event_id", INVALID_EVENT_ID)]),
        ({"event_time": 2**60}, [("event_time", EVENT_TIME_OUT_OF_RANGE)]),
        ({"event_time": dt.datetime(2200, 1, 1, tzinfo=dt.UTC)}, [("event_time", EVENT_TIME_OUT_OF_RANGE)]),
        ({"stream": "\ud800"}, [("stream", INVALID_UTF8)]),
        ({"entity_id": "\ud800"}, [("entity_id", INVALID_UTF8)]),  # reported once, as UTF-8
        (
            {"entity_id": "", "event_id": "", "event_time": 0},
            [("entity_id", INVALID_ENTITY_ID), ("event_id", INVALID_EVENT_ID), ("event_time", EVENT_TIME_OUT_OF_RANGE)],
        ),
        ({"entity_id": 7, "event_time": "soon"}, []),  # wrong types: the schema's validator reports them
    ],
)
def test_each_broken_rule_is_named(changes: dict[str, object], expected: list[tuple[str, str]]) -> None:
    assert [(v.field, v.reason) for v in RULES.violations(_record(**changes))] == expected


def test_the_skew_comes_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert EventRules.of(Settings()).max_clock_skew_s == 300.0
    monkeypatch.setenv("SCORECAST_MAX_CLOCK_SKEW_S", "30")
    assert EventRules.of(Settings()).max_clock_skew_s == 30.0
