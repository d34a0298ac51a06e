"""SCORECAST_CASSANDRA_CONSISTENCY reaches every statement of both clients: cassandra-driver (workers, CLI,
registry) and acsylla (the lookup API). On the one-node test Cassandra, THREE asks for replicas that do not
exist, so Cassandra refuses the statement: proof that the level was sent, not a default."""

from __future__ import annotations

import asyncio

import pytest
from cassandra import ConsistencyLevel, Unavailable
from cassandra.cluster import NoHostAvailable

from lookup_api.acsylla_connection import AcsyllaConnection
from lookup_api.config import ApiSettings
from lookup_api.connection import VERSIONS
from lookup_api.errors import Unavailable as ApiUnavailable
from scorecast.cassandra import connect
from scorecast.settings import Settings


def test_the_default_is_a_local_quorum(settings: Settings) -> None:
    assert settings.cassandra_consistency == "LOCAL_QUORUM"
    session = connect(settings, settings.keyspace)
    try:
        assert session.cluster.profile_manager.default.consistency_level == ConsistencyLevel.LOCAL_QUORUM
        session.execute("SELECT version FROM model_versions WHERE model = %s", ("fraud",))
    finally:
        session.cluster.shutdown()


def test_cassandra_driver_sessions_use_the_configured_consistency(settings: Settings) -> None:
    session = connect(settings.model_copy(update={"cassandra_consistency": "THREE"}), settings.keyspace)
    select = "SELECT version FROM model_versions WHERE model = %s"
    insert = "INSERT INTO model_versions (model, version) VALUES (%s, %s)"
    try:
        for statement, values in [(select, ("fraud",)), (insert, ("fraud", 1))]:
            # The driver's retry policy tries the next host on Unavailable; the one host's answer is kept.
            with pytest.raises(NoHostAvailable) as refused:
                session.execute(statement, values)
            (answer,) = refused.value.errors.values()
            assert isinstance(answer, Unavailable)
            assert answer.consistency == ConsistencyLevel.THREE
    finally:
        session.cluster.shutdown()


def test_the_lookup_apis_acsylla_session_uses_the_configured_consistency(settings: Settings) -> None:
    async def versions(chosen: Settings) -> list[tuple[object, ...]]:
        connection = await AcsyllaConnection.open(chosen, ApiSettings(request_timeout_s=5.0))
        try:
            return await connection.query(VERSIONS, ["fraud"])
        finally:
            await connection.close()

    assert asyncio.run(versions(settings)) == []
    with pytest.raises(ApiUnavailable):
        asyncio.run(versions(settings.model_copy(update={"cassandra_consistency": "THREE"})))
