"""The shared statements: keyspace-qualified, one placeholder per bound value."""

from __future__ import annotations

import pytest

from lookup_api.connection import LATEST, ROLLOUT, RolloutRow, statements
from scorecast.io.cql import (
    insert_prediction,
    select_aliases,
    select_event_predictions,
    select_latest_prediction,
    select_latest_rollout,
    select_prediction_partitions,
)


@pytest.mark.parametrize("traced", [False, True])
def test_an_insert_binds_one_value_per_column(traced: bool) -> None:
    cql = insert_prediction("ks", traced=traced)
    columns = cql[cql.index("(") + 1 : cql.index(")")].split(", ")
    assert cql.startswith("INSERT INTO ks.predictions (")
    assert cql.count("?") == len(columns) == (9 if traced else 8)
    assert ("trace_id" in columns) is traced


def test_reads_are_qualified_and_address_one_partition_or_one_event() -> None:
    latest = select_latest_prediction("ks", "score")
    assert latest == "SELECT score FROM ks.predictions WHERE model = ? AND version = ? AND entity_id = ? LIMIT 1"
    event = select_event_predictions("ks", "version, score")
    assert event.startswith("SELECT version, score FROM ks.predictions WHERE ")
    assert event.count("?") == 5
    assert select_prediction_partitions("ks") == "SELECT DISTINCT model, version, entity_id FROM ks.predictions"


def test_the_lookup_api_reads_the_latest_prediction_through_the_shared_statement() -> None:
    assert statements("ks")[LATEST].endswith(select_latest_prediction("ks", "x").split(" FROM ", 1)[1])


def test_alias_and_rollout_reads_are_qualified_unless_the_session_has_no_keyspace() -> None:
    assert select_aliases("ks", "alias, version") == "SELECT alias, version FROM ks.model_aliases WHERE model = ?"
    assert select_aliases(None, "alias") == "SELECT alias FROM model_aliases WHERE model = ?"
    assert select_latest_rollout("ks", "status") == "SELECT status FROM ks.rollouts WHERE model = ? LIMIT 1"
    assert select_latest_rollout(None, "status") == "SELECT status FROM rollouts WHERE model = ? LIMIT 1"


def test_the_lookup_api_selects_its_rollout_row_in_the_typed_row_order() -> None:
    assert statements("ks")[ROLLOUT] == select_latest_rollout("ks", ", ".join(RolloutRow._fields))
