"""Versioned CQL migrations: schemas/cql/NNNN_name.cql applied once each, in order, and recorded.

A migration already applied whose file has changed is refused: schema changes are new migrations.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from cassandra.cluster import Session

from infra.errors import InfraError
from scorecast.settings import Settings

CQL_DIR = Path(__file__).resolve().parent.parent / "schemas" / "cql"
_NAME = re.compile(r"^(\d{4})_(\w+)\.cql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    text: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    def statements(self, params: dict[str, object]) -> list[str]:
        body = "\n".join(line for line in self.text.splitlines() if not line.lstrip().startswith("--"))
        for key, value in params.items():
            body = body.replace("{" + key + "}", str(value))
        return [s.strip() for s in body.split(";") if s.strip()]


def discover(cql_dir: Path = CQL_DIR) -> list[Migration]:
    migrations = []
    for path in sorted(cql_dir.glob("*.cql")):
        match = _NAME.match(path.name)
        if match is None:
            raise InfraError(f"migration file {path.name} must be named NNNN_name.cql")
        migrations.append(Migration(int(match.group(1)), match.group(2), path.read_text()))
    return migrations


def migrate(session: Session, settings: Settings) -> list[Migration]:
    """Create the keyspace if needed and apply pending migrations; returns those applied now."""
    ks = settings.keyspace
    if not re.fullmatch(r"[a-zA-Z][a-zA-Z0-9_]{0,47}", ks):
        raise InfraError(f"invalid keyspace name {ks!r}")
    session.execute(
        f"CREATE KEYSPACE IF NOT EXISTS {ks} WITH replication = "
        f"{{'class': 'SimpleStrategy', 'replication_factor': {settings.keyspace_replication}}}"
    )
    session.execute(
        f"CREATE TABLE IF NOT EXISTS {ks}.schema_migrations "
        "(version int PRIMARY KEY, name text, checksum text, applied_at timestamp)"
    )
    applied = {row.version: row.checksum for row in session.execute(f"SELECT * FROM {ks}.schema_migrations")}
    params: dict[str, object] = {"keyspace": ks, "predictions_ttl_s": settings.predictions_ttl_s}
    done = []
    for migration in discover():
        if migration.version in applied:
            if applied[migration.version] != migration.checksum:
                raise InfraError(
                    f"migration {migration.version:04d}_{migration.name} changed after it was applied; "
                    "add a new migration instead"
                )
            continue
        for statement in migration.statements(params):
            session.execute(statement, timeout=60)
        session.execute(
            f"INSERT INTO {ks}.schema_migrations (version, name, checksum, applied_at) "
            "VALUES (%s, %s, %s, toTimestamp(now()))",
            (migration.version, migration.name, migration.checksum),
        )
        done.append(migration)
    return done
