"""Prediction rows land in Cassandra, and writing the same batch again changes nothing."""

from __future__ import annotations

import numpy as np

from scorecast.cassandra import connect
from scorecast.settings import Settings
from scorers.prediction_sink import PredictionRows, PredictionWriter


def _rows(n: int, scored_at_ms: int) -> PredictionRows:
    return PredictionRows(
        model="fraud",
        version=3,
        variant="champion",
        entity_ids=[f"card-{i % 7}" for i in range(n)],
        event_ids=[f"evt-{i}" for i in range(n)],
        event_times_ms=1_767_225_600_000 + np.arange(n, dtype=np.int64),
        scores=np.linspace(0.0, 1.0, n, dtype=np.float32),
        scored_at_ms=scored_at_ms,
    )


def test_rows_are_written_once_even_when_written_twice(settings: Settings) -> None:
    session = connect(settings, settings.keyspace)
    try:
        writer = PredictionWriter(session, settings.keyspace, rows_per_request=16, max_in_flight=4)
        writer.write(_rows(500, scored_at_ms=1))
        writer.write(_rows(500, scored_at_ms=2))  # a redelivery of the same events
        rows = list(session.execute("SELECT entity_id, event_id, score, scored_at FROM predictions"))
        assert len(rows) == 500
        assert {r.event_id for r in rows} == {f"evt-{i}" for i in range(500)}
        by_event = {r.event_id: r for r in rows}
        assert by_event["evt-499"].score == 1.0
        assert by_event["evt-3"].entity_id == "card-3"
        latest = session.execute(
            "SELECT event_id FROM predictions WHERE model='fraud' AND version=3 AND entity_id='card-0' LIMIT 1"
        ).one()
        assert latest.event_id == "evt-497"  # newest event of card-0 comes first
    finally:
        session.cluster.shutdown()
