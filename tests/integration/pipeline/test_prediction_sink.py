"""Prediction rows land in Cassandra, writing the same batch again changes nothing, and a refused row is left out,
through either client a scorer can write with (``SCORECAST_PREDICTION_WRITE_CLIENT``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest
from cassandra.cluster import Session

from scorecast.cassandra import connect
from scorecast.errors import ConfigError, PermanentError, RetryableError
from scorecast.io.cql import insert_prediction
from scorecast.settings import Settings
from scorers.acsylla_sink import AcsyllaPredictionWriter, routing_key
from scorers.prediction_sink import PredictionRows, PredictionSink, PredictionWriter
from tests.integration.lookup_api.tcp_proxy import TcpProxy

CLIENTS = ["acsylla", "cassandra-driver"]


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


@pytest.fixture
def session(settings: Settings) -> Iterator[Session]:
    session = connect(settings, settings.keyspace)
    yield session
    session.cluster.shutdown()


def _writer(client: str, settings: Settings, session: Session, **shape: int) -> PredictionSink:
    if client == "acsylla":
        return AcsyllaPredictionWriter.open(settings, metadata=session.cluster.metadata, **shape)
    return PredictionWriter(session, settings.keyspace, **shape)


@pytest.mark.parametrize("client", CLIENTS)
def test_rows_are_written_once_even_when_written_twice(settings: Settings, session: Session, client: str) -> None:
    writer = _writer(client, settings, session, rows_per_request=16, max_in_flight=4)
    try:
        writer.write(_rows(500, scored_at_ms=1))
        writer.write(_rows(500, scored_at_ms=2))  # a redelivery of the same events
    finally:
        writer.close()
    rows = list(session.execute("SELECT entity_id, event_id, score, scored_at, variant FROM predictions"))
    assert len(rows) == 500
    assert {r.event_id for r in rows} == {f"evt-{i}" for i in range(500)}
    by_event = {r.event_id: r for r in rows}
    assert by_event["evt-499"].score == 1.0
    assert by_event["evt-3"].entity_id == "card-3"
    assert by_event["evt-3"].variant == "champion"
    assert by_event["evt-3"].scored_at.timestamp() == 0.002  # the second write's: an upsert of the same row
    latest = session.execute(
        "SELECT event_id, event_time FROM predictions WHERE model='fraud' AND version=3 AND entity_id='card-0' LIMIT 1"
    ).one()
    assert latest.event_id == "evt-497"  # newest event of card-0 comes first
    assert int(latest.event_time.timestamp() * 1000) == 1_767_225_600_000 + 497


@pytest.mark.parametrize("client", CLIENTS)
def test_a_row_cassandra_refuses_is_bisected_out_and_the_rest_are_written(
    settings: Settings, session: Session, client: str
) -> None:
    # A partition key over 64 KiB: Cassandra refuses the whole 16-row request it sits in ("Key length of
    # 70013 is longer than maximum of 65535"), every time. Only that row may be left out.
    rows = _rows(100, scored_at_ms=1)
    poison = 37  # not the first row of its request: the client packs it, the server refuses the batch
    entity_ids = list(rows.entity_ids)
    entity_ids[poison] = "x" * 70_000
    rows = replace(rows, entity_ids=entity_ids)
    writer = _writer(client, settings, session, rows_per_request=16, max_in_flight=4)
    try:
        rejected = writer.write(rows)
    finally:
        writer.close()
    assert [r.row for r in rejected] == [poison]
    assert isinstance(rejected[0].error, PermanentError)
    assert "65535" in str(rejected[0].error)
    stored = {r.event_id for r in session.execute("SELECT event_id FROM predictions")}
    assert stored == {f"evt-{i}" for i in range(100) if i != poison}


@pytest.mark.parametrize("client", CLIENTS)
def test_a_row_whose_value_the_table_cannot_hold_is_left_out(settings: Settings, session: Session, client: str) -> None:
    # A predictions table whose event_id is ascii (an older deployment's schema): an event id with an accent
    # passes every record rule but cannot be stored there; the client or Cassandra refuses it by the table's types.
    session.execute("DROP TABLE predictions")
    session.execute(
        "CREATE TABLE predictions (model text, version int, entity_id text, event_time timestamp, "
        "event_id ascii, score double, outputs map<text, double>, scored_at timestamp, variant text, "
        "trace_id text, "
        "PRIMARY KEY ((model, version, entity_id), event_time, event_id))"
    )
    rows = _rows(40, scored_at_ms=1)
    rows = replace(rows, event_ids=[*rows.event_ids[:5], "évt-5", *rows.event_ids[6:]])
    writer = _writer(client, settings, session, rows_per_request=16)
    try:
        rejected = writer.write(rows)
    finally:
        writer.close()
    assert [r.row for r in rejected] == [5]
    assert isinstance(rejected[0].error, PermanentError)
    stored = {r.event_id for r in session.execute("SELECT event_id FROM predictions")}
    assert stored == {f"evt-{i}" for i in range(40) if i != 5}


def test_an_unreachable_cassandra_is_raised_as_retryable_not_rejected(settings: Settings) -> None:
    session = connect(settings, settings.keyspace)
    writer = PredictionWriter(session, settings.keyspace)
    session.cluster.shutdown()  # every request now fails for a reason outside the rows
    with pytest.raises(RetryableError):
        writer.write(_rows(10, scored_at_ms=1))


def test_acsylla_raises_retryable_while_cassandra_is_away_and_writes_once_it_is_back(settings: Settings) -> None:
    proxy = TcpProxy(("127.0.0.1", settings.cassandra_port))
    writer = AcsyllaPredictionWriter.open(settings.model_copy(update={"cassandra_port": proxy.port}))
    try:
        proxy.cut()  # every connection dropped, new ones refused: a request fails outside its rows
        with pytest.raises(RetryableError):
            writer.write(_rows(10, scored_at_ms=1))
        proxy.restore()
        deadline = time.monotonic() + 30  # the driver tries a lost node again every <= 2 s
        while True:
            try:
                assert writer.write(_rows(10, scored_at_ms=2)) == []
                break
            except RetryableError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        writer.close()
        proxy.close()
    check = connect(settings, settings.keyspace)
    try:
        assert len(list(check.execute("SELECT event_id FROM predictions"))) == 10
    finally:
        check.cluster.shutdown()


@pytest.mark.parametrize("client", CLIENTS)
def test_each_row_keeps_its_events_trace_id_and_untraced_rows_keep_none(
    settings: Settings, session: Session, client: str
) -> None:
    rows = _rows(6, scored_at_ms=1)
    ids = [f"{i:032x}" if i % 2 else None for i in range(1, 7)]  # events 1, 3, 5 traced
    # A trace id written earlier stays when the redelivered row has none: the untraced row writes no null.
    session.execute(
        "INSERT INTO predictions (model, version, entity_id, event_time, event_id, trace_id) "
        "VALUES ('fraud', 3, 'card-1', 1767225600001, 'evt-1', 'kept')"
    )
    writer = _writer(client, settings, session, rows_per_request=4, max_in_flight=2)
    try:
        assert writer.write(replace(rows, trace_ids=ids)) == []
        writer.write(replace(rows, event_ids=[f"untraced-{i}" for i in range(6)]))  # no trace ids at all
    finally:
        writer.close()
    stored = {r.event_id: r.trace_id for r in session.execute("SELECT event_id, trace_id FROM predictions")}
    expected = {**{f"evt-{i}": ids[i] for i in range(6)}, **{f"untraced-{i}": None for i in range(6)}}
    assert stored == {**expected, "evt-1": "kept"}  # a null bound for evt-1 would have replaced "kept"


def test_the_acsylla_routing_key_is_the_drivers(session: Session, settings: Settings) -> None:
    """Rows are grouped by replica from this key on a cluster of several nodes: it must hash like the driver's."""
    insert = session.prepare(insert_prediction(settings.keyspace))
    for model, version, entity_id in [("fraud", 3, "card-1"), ("risk", -2, "é@x:1"), ("m", 2**31 - 1, "x" * 300)]:
        bound = insert.bind((model, version, entity_id, 0, "e", 0.5, 0, "champion"))
        assert routing_key(model, version, entity_id) == bound.routing_key


def test_closing_the_acsylla_sink_leaves_no_thread_and_a_second_close_is_harmless(settings: Settings) -> None:
    before = set(threading.enumerate())
    writer = AcsyllaPredictionWriter.open(settings)
    writer.write(_rows(5, scored_at_ms=1))
    writer.close()
    writer.close()
    assert set(threading.enumerate()) - before == set()


def test_the_acsylla_sink_writes_at_the_configured_consistency(settings: Settings) -> None:
    # THREE on the one-node test Cassandra asks for replicas that do not exist: Cassandra answers Unavailable, the
    # driver tries the next host (there is none) and the write fails as retryable. The same rows at the default
    # level are written: the level was sent, not a default.
    for level, fails in [("THREE", True), ("LOCAL_QUORUM", False)]:
        writer = AcsyllaPredictionWriter.open(settings.model_copy(update={"cassandra_consistency": level}))
        try:
            if fails:
                with pytest.raises(RetryableError):
                    writer.write(_rows(3, scored_at_ms=1))
            else:
                assert writer.write(_rows(3, scored_at_ms=1)) == []
        finally:
            writer.close()


@pytest.mark.parametrize("client", CLIENTS)
def test_timestamps_are_stored_to_the_millisecond(settings: Settings, session: Session, client: str) -> None:
    # acsylla stores int(seconds * 1000): for these instants of 2004 (x / 1000) * 1000 falls just below x in a
    # double, so seconds bound as x / 1000 would be stored one millisecond early (~1% of instants in 2000-2020).
    instants = [1093077386909, 1083503979814, 1087745809258, 1095072153722, 1767225600001]
    rows = replace(_rows(len(instants), scored_at_ms=instants[0]), event_times_ms=np.array(instants, dtype=np.int64))
    writer = _writer(client, settings, session)
    try:
        assert writer.write(rows) == []
    finally:
        writer.close()
    stored = session.execute(
        "SELECT event_id, blobAsBigint(timestampAsBlob(event_time)) AS event_ms, "
        "blobAsBigint(timestampAsBlob(scored_at)) AS scored_ms FROM predictions"
    )
    assert {r.event_id: (r.event_ms, r.scored_ms) for r in stored} == {
        f"evt-{i}": (instant, instants[0]) for i, instant in enumerate(instants)
    }


def test_the_acsylla_sink_speaks_tls_when_the_settings_ask_for_it(settings: Settings) -> None:
    # The test Cassandra speaks plaintext: a sink that sends a TLS handshake is refused; one that ignored
    # SCORECAST_CASSANDRA_SSL would connect in plaintext.
    with pytest.raises(ConfigError, match="SSL handshake"):
        AcsyllaPredictionWriter.open(settings.model_copy(update={"cassandra_ssl": True}))
