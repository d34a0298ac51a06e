from __future__ import annotations

from infra.migrations import Migration, discover


def test_migrations_are_numbered_in_order_without_gaps() -> None:
    versions = [m.version for m in discover()]
    assert versions == list(range(1, len(versions) + 1))


def test_statements_fill_parameters_and_drop_comments() -> None:
    migration = Migration(1, "x", "-- a comment; with a semicolon\nCREATE TABLE {keyspace}.t (a int PRIMARY KEY);\n")
    assert migration.statements({"keyspace": "ks"}) == ["CREATE TABLE ks.t (a int PRIMARY KEY)"]
