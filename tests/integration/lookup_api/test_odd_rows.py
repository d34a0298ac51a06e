"""One odd stored row is that row's problem: its lookup gets one clear error, nobody else gets anything.

Rows are written directly with CQL (as any client could) with event times outside what a datetime holds,
then looked up concurrently with normal lookups through the real app and the real Cassandra.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from cassandra.cluster import Session

from lookup_api.app import create_app
from lookup_api.config import ApiSettings
from scorecast.settings import Settings
from tests.integration.lookup_api.conftest import FAST, Rows, unique

ODD_TIMES_MS = {"far-future": 2**60, "far-past": -(2**62)}
YEAR_2200_MS = int(datetime(2200, 1, 1, tzinfo=UTC).timestamp() * 1000)
NORMAL = [f"card-{i}" for i in range(20)]


@pytest.fixture(scope="module")
def model(rows: Rows, session: Session) -> str:
    name = unique("odd")
    rows.model(name, [1], {"champion": [1]})
    for entity in NORMAL:
        rows.prediction(name, 1, entity, 0.25)
    # event_time and scored_at given as epoch milliseconds: CQL stores any 64-bit value
    insert = session.prepare(
        "INSERT INTO predictions (model, version, entity_id, event_time, event_id, score, outputs, scored_at) "
        "VALUES (?, 1, ?, ?, ?, 0.5, {'p': 0.5}, ?)"
    )
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    for entity, event_ms in {**ODD_TIMES_MS, "year-2200": YEAR_2200_MS}.items():
        session.execute(insert, (name, entity, event_ms, f"ev-{entity}", now_ms))
    session.execute(insert, (name, "scored-odd", now_ms, "ev-scored-odd", 2**60))
    return name


async def _lookups(settings: Settings, model: str, rounds: int) -> tuple[Counter[int], list[httpx.Response]]:
    """``rounds`` rounds of each odd lookup beside every normal one, 50 ms apart; normal statuses and odd answers."""
    app = create_app(settings, ApiSettings.model_validate({**FAST, "auth_enabled": False}))
    normal: Counter[int] = Counter()
    odd: list[httpx.Response] = []
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # a 500 is an answer here
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://api") as client,
    ):
        for _ in range(rounds):
            odd_calls = [client.get(f"/v1/predictions/{model}/{e}") for e in [*ODD_TIMES_MS, "scored-odd"]]
            normal_calls = [client.get(f"/v1/predictions/{model}/{e}") for e in NORMAL]
            answers = await asyncio.gather(*odd_calls, *normal_calls)
            odd.extend(answers[: len(odd_calls)])
            normal.update(a.status_code for a in answers[len(odd_calls) :])
            await asyncio.sleep(0.05)
    return normal, odd


def test_odd_event_times_fail_only_their_own_lookup(api_keyspace: Settings, model: str) -> None:
    normal, odd = asyncio.run(_lookups(api_keyspace, model, rounds=12))
    assert normal == Counter({200: 12 * len(NORMAL)})  # nobody else sees the odd rows
    for answer in odd:
        assert answer.status_code == 500, answer.text
        assert answer.headers["content-type"] == "application/json"
        error = answer.json()["error"]
        assert error["code"] == "unreadable_row"
        assert "outside" in error["message"]


def test_a_far_but_representable_time_is_served_as_stored(api_keyspace: Settings, model: str) -> None:
    from tests.integration.lookup_api.conftest import serve

    with serve(api_keyspace, auth_enabled=False) as client:
        answer = client.get(f"/v1/predictions/{model}/year-2200")
        assert answer.status_code == 200, answer.text
        assert answer.json()["event_time"] == "2200-01-01T00:00:00Z"
        normal = client.get(f"/v1/predictions/{model}/card-1").json()
        expected = datetime.fromisoformat(normal["scored_at"]) - timedelta(milliseconds=20)
        assert datetime.fromisoformat(normal["event_time"]) == expected


def test_a_batch_lists_odd_rows_apart_and_serves_the_rest(api_keyspace: Settings, model: str) -> None:
    from tests.integration.lookup_api.conftest import serve

    with serve(api_keyspace, auth_enabled=False) as client:
        body = {"entity_ids": ["card-1", "far-future", "nobody", "far-past", "card-2"]}
        answer = client.post(f"/v1/predictions/{model}:batch", json=body)
        assert answer.status_code == 200, answer.text
        result = answer.json()
        assert [r["entity_id"] for r in result["results"]] == ["card-1", "card-2"]
        assert result["not_found"] == ["nobody"]
        assert result["unreadable"] == ["far-future", "far-past"]
