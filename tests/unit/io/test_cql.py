"""The statements in scorecast.io.cql: keyspace-qualified, one placeholder per bound value, reads selecting
their typed row's fields in order, and no statement written anywhere else."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest

from lookup_api.connection import ALIASES, ALL_ALIASES, ALL_VERSIONS, API_KEY, LATEST, ROLLOUT, statements
from scorecast.io.cql import (
    api_keys,
    insert_prediction,
    models,
    predictions,
    rollouts,
    select_aliases,
    select_event_predictions,
    select_latest_prediction,
    select_latest_rollout,
    select_prediction_partitions,
)

ROOT = Path(__file__).resolve().parents[3]


def selected(cql: str) -> list[str]:
    """The names a SELECT returns, ``toUnixTimestamp(c) AS c`` read as c."""
    columns = cql[len("SELECT ") : cql.index(" FROM ")].removeprefix("DISTINCT ")
    return [column.rsplit(" AS ", 1)[-1] for column in columns.split(", ")]


def inserted(cql: str) -> list[str]:
    return cql[cql.index("(") + 1 : cql.index(")")].split(", ")


@pytest.mark.parametrize("traced", [False, True])
def test_an_insert_binds_one_value_per_column(traced: bool) -> None:
    cql = insert_prediction("ks", traced=traced)
    columns = inserted(cql)
    assert cql.startswith("INSERT INTO ks.predictions (")
    assert cql.count("?") == len(columns) == (9 if traced else 8)
    assert ("trace_id" in columns) is traced


INSERTS: dict[str, tuple[Callable[[str | None], str], tuple[str, ...]]] = {
    # statement: (builder, the columns it must write, in the order its callers bind them)
    "claim_version": (models.claim_version, models.ModelVersionRow._fields),
    "insert_alias_change": (models.insert_alias_change, ("model", *models.AliasHistoryRow._fields)),
    "insert_rollout": (rollouts.insert_rollout, rollouts.RolloutRow._fields),
    "insert_rollout_event": (rollouts.insert_rollout_event, ("model", "rollout_id", *rollouts.RolloutEventRow._fields)),
    "insert_api_key": (api_keys.insert_api_key, api_keys.ApiKeyRow._fields[:-1]),
}


@pytest.mark.parametrize("name", sorted(INSERTS))
def test_every_insert_writes_its_row_with_one_placeholder_per_column(name: str) -> None:
    build, columns = INSERTS[name]
    cql = build("ks")
    assert tuple(inserted(cql)) == columns
    assert cql.count("?") == len(columns)


READS: dict[str, tuple[str, type[NamedTuple]]] = {
    # statement: (its text, the typed row its reader makes of each result)
    "select_version": (models.select_version("ks"), models.ModelVersionRow),
    "select_versions": (models.select_versions("ks"), models.ModelVersionRow),
    "select_version_summaries": (models.select_version_summaries("ks"), models.VersionSummary),
    "select_aliases": (models.select_aliases("ks"), models.AliasRow),
    "select_aliases with write times": (models.select_aliases("ks", models.ALIAS_WRITE_COLUMNS), models.AliasWrite),
    "select_all_aliases": (models.select_all_aliases("ks"), models.ModelAliasRow),
    "select_alias_history": (models.select_alias_history("ks"), models.AliasHistoryRow),
    "select_latest_rollout": (rollouts.select_latest_rollout("ks"), rollouts.RolloutRow),
    "select_latest_rollout_split": (rollouts.select_latest_rollout_split("ks"), rollouts.RolloutSplitRow),
    "select_rollout_events": (rollouts.select_rollout_events("ks"), rollouts.RolloutEventRow),
    "select_api_key": (api_keys.select_api_key("ks"), api_keys.ApiKeyRow),
    "select_api_keys": (api_keys.select_api_keys("ks"), api_keys.ApiKeyRow),
    "the shadow joiner's champion predictions": (
        select_event_predictions("ks", predictions.EVENT_PREDICTION_COLUMNS),
        predictions.EventPrediction,
    ),
    "the lookup API's latest prediction": (
        select_latest_prediction("ks", predictions.SERVED_PREDICTION_COLUMNS),
        predictions.ServedPrediction,
    ),
}


@pytest.mark.parametrize("name", sorted(READS))
def test_every_read_selects_its_typed_rows_fields_in_order(name: str) -> None:
    cql, row = READS[name]
    assert selected(cql) == list(row._fields)
    assert " FROM ks." in cql


def test_timestamps_read_as_numbers_are_selected_as_epoch_milliseconds() -> None:
    assert "toUnixTimestamp(event_time) AS event_time" in predictions.SERVED_PREDICTION_COLUMNS
    assert "toUnixTimestamp(created_at) AS created_at" in models.select_version_summaries("ks")
    assert "toUnixTimestamp(stage_started_at) AS stage_started_at" in rollouts.ROLLOUT_COLUMNS
    assert "toUnixTimestamp(at) AS at" in rollouts.select_rollout_events("ks")
    assert "toUnixTimestamp(revoked_at) AS revoked_at" in api_keys.select_api_key("ks")
    assert "toUnixTimestamp" not in api_keys.select_api_keys("ks")  # the CLI reads datetimes


def test_a_transition_is_conditional_on_the_status_and_stage_read() -> None:
    cql = rollouts.transition_rollout("ks")
    assert cql.startswith("UPDATE ks.rollouts SET status = ?, stage = ?,")
    assert cql.endswith("WHERE model = ? AND rollout_id = ? IF status = ? AND stage = ?")
    assert cql.count("?") == len(rollouts.TRANSITION_COLUMNS) + 4


def test_reads_are_qualified_and_address_one_partition_or_one_event() -> None:
    latest = select_latest_prediction("ks", "score")
    assert latest == "SELECT score FROM ks.predictions WHERE model = ? AND version = ? AND entity_id = ? LIMIT 1"
    event = select_event_predictions("ks", "version, score")
    assert event.startswith("SELECT version, score FROM ks.predictions WHERE ")
    assert event.count("?") == 5
    assert select_prediction_partitions("ks") == "SELECT DISTINCT model, version, entity_id FROM ks.predictions"


def test_statements_are_qualified_unless_the_session_has_no_keyspace() -> None:
    assert select_aliases("ks", "alias, version") == "SELECT alias, version FROM ks.model_aliases WHERE model = ?"
    assert select_aliases(None, "alias") == "SELECT alias FROM model_aliases WHERE model = ?"
    assert select_latest_rollout("ks", "status") == "SELECT status FROM ks.rollouts WHERE model = ? LIMIT 1"
    assert select_latest_rollout(None, "status") == "SELECT status FROM rollouts WHERE model = ? LIMIT 1"
    assert models.delete_alias(None).startswith("DELETE FROM model_aliases USING TIMESTAMP ?")


def test_the_lookup_api_runs_the_shared_statements() -> None:
    api = statements("ks")
    assert api[LATEST] == select_latest_prediction("ks", predictions.SERVED_PREDICTION_COLUMNS)
    assert api[ALIASES] == models.select_aliases("ks")
    assert api[ROLLOUT] == rollouts.select_latest_rollout_split("ks")
    assert api[ALL_VERSIONS] == models.select_version_summaries("ks")
    assert api[ALL_ALIASES] == models.select_all_aliases("ks")
    assert api[API_KEY] == api_keys.select_api_key("ks")


# CQL text: a statement keyword at the start of a string, followed by what that statement needs
_STATEMENT = re.compile(r"^\s*(SELECT\s.+\sFROM\s|INSERT\s+INTO\s|UPDATE\s+\S+\s+SET\s|DELETE\s.*FROM\s)", re.I | re.S)
SOURCES = ("scorecast", "schemas", "scorers", "streams", "shadow", "infra", "lookup-api/lookup_api")
# The migration runner's own bookkeeping (its keyspace and schema_migrations table) stays with it.
ELSEWHERE = {"infra/migrations.py"}


def string_heads(source: str) -> set[tuple[int, str]]:
    """(line, text) of each string constant or f-string in ``source`` (an f-string's literal parts joined)."""
    heads = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.JoinedStr):
            text = "".join(str(v.value) if isinstance(v, ast.Constant) else "{}" for v in node.values)
            heads.add((node.lineno, str(text)))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            heads.add((node.lineno, node.value))
    return heads


def cql_outside_the_cql_package() -> list[str]:
    found = []
    for folder in SOURCES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative.startswith("scorecast/io/cql/") or relative in ELSEWHERE:
                continue
            found += [f"{relative}:{line}" for line, text in string_heads(path.read_text()) if _STATEMENT.match(text)]
    return found


def test_no_statement_is_written_outside_the_cql_package() -> None:
    assert cql_outside_the_cql_package() == []


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ('x = "SELECT a FROM t WHERE k = ?"', True),
        ('x = f"INSERT INTO {ks}.t (a) VALUES (?)"', True),
        ('x = ("UPDATE t SET a = ? "\n     "WHERE k = ?")', True),
        ('x = "DELETE FROM t USING TIMESTAMP ? WHERE k = ?"', True),
        ('x = "select the newest version"', False),
        ('x = "UPDATE the alias"', False),
    ],
)
def test_the_search_finds_statements_and_only_them(source: str, found: bool) -> None:
    assert any(_STATEMENT.match(text) for _, text in string_heads(source)) is found
