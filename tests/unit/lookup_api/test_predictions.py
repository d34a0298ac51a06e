"""Batched reads stay within their concurrency bound and keep order; rows render to the documented fields."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from lookup_api.connection import Row
from lookup_api.errors import UnreadableRowError
from lookup_api.predictions import Predictions, gather_bounded, render
from lookup_api.timestamps import MAX_MS, MIN_MS, clamped, from_ms


def _ms(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1)) // timedelta(milliseconds=1)


def test_gather_bounded_keeps_order_and_never_exceeds_the_limit() -> None:
    in_flight, peak = 0, 0

    async def read(i: int) -> int:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.001 * (i % 3))
        in_flight -= 1
        return i * 10

    starts = [lambda i=i: read(i) for i in range(100)]
    assert asyncio.run(gather_bounded(starts, 7)) == [i * 10 for i in range(100)]
    assert peak == 7


def test_gather_bounded_fails_on_the_first_error_and_starts_no_more() -> None:
    started: list[int] = []

    async def read(i: int) -> int:
        started.append(i)
        await asyncio.sleep(0)
        if i == 2:
            raise TimeoutError("slow replica")
        return i

    starts = [lambda i=i: read(i) for i in range(50)]
    with pytest.raises(TimeoutError):
        asyncio.run(gather_bounded(starts, 4))
    assert len(started) < 10
    assert asyncio.run(gather_bounded([], 4)) == []


def test_render_gives_every_field_and_the_age() -> None:
    scored = datetime(2026, 1, 1, 0, 0, 0, 250_000)
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    row = ("e-1", _ms(datetime(2026, 1, 1)), 0.93, {"p_fraud": 0.93}, _ms(scored), trace_id)
    now_ms = _ms(scored) + 1500
    assert render(row, now_ms) == {
        "score": 0.93,
        "outputs": {"p_fraud": 0.93},
        "event_id": "e-1",
        "event_time": datetime(2026, 1, 1),
        "scored_at": scored,
        "age_ms": 1500,
        "trace_id": trace_id,
    }
    untraced = render(("e-2", None, None, None, None, None), now_ms)
    assert untraced["age_ms"] is None
    assert untraced["trace_id"] is None


@pytest.mark.parametrize(("event_ms", "scored_ms", "named"), [(2**60, 0, "event_time"), (0, -(2**62), "scored_at")])
def test_a_row_with_an_unrepresentable_time_is_that_rows_error(event_ms: int, scored_ms: int, named: str) -> None:
    with pytest.raises(UnreadableRowError) as caught:
        render(("e-3", event_ms, 0.5, None, scored_ms, None))
    assert (caught.value.status, caught.value.code) == (500, "unreadable_row")
    assert named in caught.value.message


def test_timestamps_hold_exactly_the_years_1_to_9999() -> None:
    assert from_ms(MIN_MS) == datetime.min
    assert from_ms(MAX_MS) == datetime.max.replace(microsecond=999_000)
    assert from_ms(_ms(datetime(2200, 1, 1))) == datetime(2200, 1, 1)
    with pytest.raises(ValueError, match="outside the years 1-9999"):
        from_ms(MAX_MS + 1)
    with pytest.raises(ValueError, match="outside the years 1-9999"):
        from_ms(MIN_MS - 1)
    assert (clamped(2**62), clamped(-(2**62)), clamped(None)) == (from_ms(MAX_MS), datetime.min, None)


def test_prediction_cache_is_keyed_by_version() -> None:
    reads: list[tuple[str, int, str]] = []

    async def read(model: str, version: int, entity_id: str) -> list[Row]:
        reads.append((model, version, entity_id))
        return [(f"v{version}", None, float(version), None, None)]

    predictions = Predictions(read, cache_ttl_s=60)

    async def scenario() -> list[Row | None]:
        return [
            await predictions.latest("fraud", 1, "c"),
            await predictions.latest("fraud", 1, "c"),
            await predictions.latest("fraud", 2, "c"),  # a flip to v2 must not see v1's cached row
        ]

    first, again, flipped = asyncio.run(scenario())
    assert first == again
    assert flipped is not None
    assert flipped[0] == "v2"
    assert reads == [("fraud", 1, "c"), ("fraud", 2, "c")]
