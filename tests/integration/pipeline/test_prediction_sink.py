"""Prediction rows land in Cassandra, writing the same batch again changes nothing, and a refused row is left out."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from scorecast.cassandra import connect
from scorecast.errors import PermanentError, RetryableError
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


def test_a_row_cassandra_refuses_is_bisected_out_and_the_rest_are_written(settings: Settings) -> None:
    # A partition key over 64 KiB: Cassandra refuses the whole 16-row request it sits in ("Key length of
    # 70013 is longer than maximum of 65535"), every time. Only that row may be left out.
    rows = _rows(100, scored_at_ms=1)
    poison = 37  # not the first row of its request: the driver packs it, the server refuses the batch
    entity_ids = list(rows.entity_ids)
    entity_ids[poison] = "x" * 70_000
    rows = replace(rows, entity_ids=entity_ids)
    session = connect(settings, settings.keyspace)
    try:
        writer = PredictionWriter(session, settings.keyspace, rows_per_request=16, max_in_flight=4)
        rejected = writer.write(rows)
        assert [r.row for r in rejected] == [poison]
        assert isinstance(rejected[0].error, PermanentError)
        assert "65535" in str(rejected[0].error)
        stored = {r.event_id for r in session.execute("SELECT event_id FROM predictions")}
        assert stored == {f"evt-{i}" for i in range(100) if i != poison}
    finally:
        session.cluster.shutdown()


def test_a_row_whose_value_the_table_cannot_hold_is_left_out(settings: Settings) -> None:
    # A predictions table whose event_id is ascii (an older deployment's schema): an event id with an accent
    # passes every record rule but cannot be stored there; the driver refuses it from the table's own types.
    session = connect(settings, settings.keyspace)
    try:
        session.execute("DROP TABLE predictions")
        session.execute(
            "CREATE TABLE predictions (model text, version int, entity_id text, event_time timestamp, "
            "event_id ascii, score double, outputs map<text, double>, scored_at timestamp, variant text, "
            "trace_id text, "
            "PRIMARY KEY ((model, version, entity_id), event_time, event_id))"
        )
        rows = _rows(40, scored_at_ms=1)
        rows = replace(rows, event_ids=[*rows.event_ids[:5], "évt-5", *rows.event_ids[6:]])
        rejected = PredictionWriter(session, settings.keyspace, rows_per_request=16).write(rows)
        assert [r.row for r in rejected] == [5]
        stored = {r.event_id for r in session.execute("SELECT event_id FROM predictions")}
        assert stored == {f"evt-{i}" for i in range(40) if i != 5}
    finally:
        session.cluster.shutdown()


def test_an_unreachable_cassandra_is_raised_as_retryable_not_rejected(settings: Settings) -> None:
    session = connect(settings, settings.keyspace)
    writer = PredictionWriter(session, settings.keyspace)
    session.cluster.shutdown()  # every request now fails for a reason outside the rows
    with pytest.raises(RetryableError):
        writer.write(_rows(10, scored_at_ms=1))


def test_each_row_keeps_its_events_trace_id_and_untraced_rows_keep_none(settings: Settings) -> None:
    rows = _rows(6, scored_at_ms=1)
    ids = [f"{i:032x}" if i % 2 else None for i in range(1, 7)]  # events 1, 3, 5 traced
    session = connect(settings, settings.keyspace)
    try:
        writer = PredictionWriter(session, settings.keyspace, rows_per_request=4, max_in_flight=2)
        assert writer.write(replace(rows, trace_ids=ids)) == []
        writer.write(replace(rows, event_ids=[f"untraced-{i}" for i in range(6)]))  # no trace ids at all
        stored = {r.event_id: r.trace_id for r in session.execute("SELECT event_id, trace_id FROM predictions")}
        assert stored == {**{f"evt-{i}": ids[i] for i in range(6)}, **{f"untraced-{i}": None for i in range(6)}}
    finally:
        session.cluster.shutdown()
