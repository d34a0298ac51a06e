"""Trace ids read from Kafka headers' W3C traceparent: what the prediction rows store."""

from __future__ import annotations

import pytest

from scorecast.telemetry import trace_ids, traceparent_trace_id

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (f"00-{TRACE}-00f067aa0ba902b7-01".encode(), TRACE),
        (f"00-{TRACE}-00f067aa0ba902b7-00", TRACE),  # not sampled: still the event's trace
        (f"01-{TRACE}-00f067aa0ba902b7-01-later-field".encode(), TRACE),  # a later version may add fields
        (f"00-{TRACE}-00f067aa0ba902b7-01-extra".encode(), None),  # version 00 has exactly four fields
        (f"ff-{TRACE}-00f067aa0ba902b7-01".encode(), None),  # version ff is invalid
        (f"00-{'0' * 32}-00f067aa0ba902b7-01".encode(), None),  # the all-zero trace id is invalid
        (f"00-{TRACE.upper()}-00f067aa0ba902b7-01".encode(), None),  # lower-case hex only
        (b"00-abc-def-01", None),
        (None, None),
    ],
)
def test_a_traceparent_gives_its_trace_id_only_when_valid(value: bytes | str | None, expected: str | None) -> None:
    assert traceparent_trace_id([("other", b"x"), ("traceparent", value)]) == expected
    assert traceparent_trace_id({"traceparent": value}) == expected


def test_a_batch_has_ids_only_if_some_event_carries_one() -> None:
    traced = [("traceparent", f"00-{TRACE}-00f067aa0ba902b7-01".encode())]
    assert trace_ids([None, None]) is None  # no headers at all: nothing parsed
    assert trace_ids([[("key", b"v")], None]) is None  # headers, but no trace context
    assert trace_ids([None, traced, [("key", b"v")]]) == [None, TRACE, None]
