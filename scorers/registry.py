"""The model registry in Cassandra: numbered versions with their metadata, aliases, and the alias history.

Tables come from schemas/cql/0002_registry.cql. A version number is claimed with a lightweight transaction
(``IF NOT EXISTS``), so concurrent registrations never share one; the row carries all metadata, so a version
is visible complete or not at all. A model is verified (ONNX, signature, probe) before anything is written.
"""

from __future__ import annotations

import getpass
import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cassandra import ConsistencyLevel
from cassandra.cluster import Session
from cassandra.query import BatchStatement
from cassandra.util import datetime_from_uuid1, uuid_from_time

from schemas.features import FeatureSpec, load_feature_spec
from scorecast.io.cassandra import cassandra_session
from scorecast.io.cql import models as cql
from scorecast.io.cql.models import ALIAS_WRITE_COLUMNS, AliasHistoryRow, AliasWrite, ModelVersionRow
from scorecast.settings import Settings
from scorers.aliases import (
    AliasAction,
    AliasChange,
    Aliases,
    AliasPlan,
    plan_promote,
    plan_quarantine,
    plan_set,
    plan_unset,
    rollback_target,
    single,
    write_timestamp,
)
from scorers.artifacts import ArtifactStore, fetch, open_store, sha256_hex
from scorers.errors import ModelVerificationError, RegistryError
from scorers.profile import ReferenceProfile
from scorers.runtime import OnnxModel
from scorers.signature import OutputSpec

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True)
class ModelVersion:
    model: str
    version: int
    created_at: datetime
    created_by: str
    description: str
    sha256: str
    artifact_uri: str
    feature_spec: FeatureSpec
    output_spec: OutputSpec
    reference_profile: ReferenceProfile | None
    metrics: dict[str, Any]

    @classmethod
    def from_row(cls, row: ModelVersionRow) -> ModelVersion:
        profile = json.loads(row.reference_profile) if row.reference_profile else None
        return cls(
            row.model,
            row.version,
            row.created_at.replace(tzinfo=UTC),
            row.created_by or "",
            row.description or "",
            row.sha256,
            row.artifact_uri,
            FeatureSpec.from_json(json.loads(row.feature_spec)),
            OutputSpec.from_json(json.loads(row.output_spec)),
            ReferenceProfile.from_json(profile) if profile else None,
            json.loads(row.metrics) if row.metrics else {},
        )


def current_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no $USER and no passwd entry (some containers)
        return "unknown"


class Registry:
    """Registry operations on one keyspace; artifacts go to ``store``."""

    def __init__(self, session: Session, store: ArtifactStore) -> None:
        self.session = session
        self.store = store
        p, ks = session.prepare, session.keyspace
        self._latest = p(cql.select_latest_version(ks))
        self._version = p(cql.select_version(ks))
        self._versions = p(cql.select_versions(ks))
        self._claim = p(cql.claim_version(ks))
        self._claim.serial_consistency_level = ConsistencyLevel.LOCAL_SERIAL
        self._models = p(cql.select_model_names(ks))
        self._aliases = p(cql.select_aliases(ks, ALIAS_WRITE_COLUMNS))
        self._delete_slice = p(cql.delete_alias(ks))
        self._delete_row = p(cql.delete_alias_version(ks))
        self._insert_alias = p(cql.insert_alias(ks))
        self._append_history = p(cql.insert_alias_change(ks))
        self._history = p(cql.select_alias_history(ks))

    @classmethod
    @contextmanager
    def open(cls, settings: Settings) -> Iterator[Registry]:
        with cassandra_session(settings) as session:
            yield cls(session, open_store(settings))

    # -- versions ---------------------------------------------------------------------------------------------

    def register(
        self,
        name: str,
        artifact: bytes,
        *,
        stream: str,
        description: str = "",
        metrics: dict[str, Any] | None = None,
        reference: ReferenceProfile | None = None,
        expected_sha256: str | None = None,
        created_by: str | None = None,
    ) -> ModelVersion:
        """Verify the model, store the artifact, claim the next version number; refused models change nothing."""
        if not _NAME.fullmatch(name):
            raise RegistryError(f"invalid model name {name!r} (letters, digits, _ . -; starting with a letter)")
        try:
            spec = load_feature_spec(stream)
        except FileNotFoundError as error:
            raise RegistryError(str(error)) from error
        model = OnnxModel.load(artifact, spec, expected_sha256=expected_sha256, device="cpu")
        uri = self.store.put(artifact)
        if sha256_hex(fetch(uri)) != model.sha256:  # the store must give back exactly what was verified
            raise ModelVerificationError(f"artifact store returned different bytes for {uri}")
        created_at = datetime.now(UTC)
        row = ModelVersionRow(
            model=name,
            version=0,
            created_at=created_at,
            created_by=created_by or current_actor(),
            description=description,
            sha256=model.sha256,
            artifact_uri=uri,
            feature_spec=json.dumps(spec.to_json()),
            output_spec=json.dumps(model.output.to_json()),
            reference_profile=json.dumps(reference.to_json()) if reference is not None else None,
            metrics=json.dumps(metrics or {}),
        )
        latest = self.session.execute(self._latest, (name,)).one()
        candidate = latest.version + 1 if latest is not None else 1
        for _ in range(100):  # lost races move on to the next number
            if self.session.execute(self._claim, row._replace(version=candidate)).was_applied:
                return self.get(name, candidate)
            candidate += 1
        raise RegistryError(f"could not claim a version number for {name!r} (too much contention)")

    def models(self) -> list[str]:
        return sorted(row.model for row in self.session.execute(self._models))

    def versions(self, name: str) -> list[ModelVersion]:
        """All versions of ``name``, newest first."""
        return [
            ModelVersion.from_row(ModelVersionRow._make(row)) for row in self.session.execute(self._versions, (name,))
        ]

    def get(self, name: str, version: int) -> ModelVersion:
        row = self.session.execute(self._version, (name, version)).one()
        if row is None:
            self._require_model(name)
            raise RegistryError(f"unknown version {name}@{version}")
        return ModelVersion.from_row(ModelVersionRow._make(row))

    def resolve(self, name: str, ref: str | None = None) -> ModelVersion:
        """``ref`` is a version number, an alias, or None for the newest version."""
        if ref is None:
            versions = self.versions(name)
            if not versions:
                raise RegistryError(f"unknown model {name!r}")
            return versions[0]
        if ref.isdigit():
            return self.get(name, int(ref))
        held = self.aliases(name).get(ref, ())
        if len(held) != 1:
            self._require_model(name)
            raise RegistryError(f"{name}@{ref}: alias {'holds several versions' if held else 'is not set'}")
        return self.get(name, held[0])

    def artifact(self, version: ModelVersion) -> bytes:
        return fetch(version.artifact_uri)

    def _require_model(self, name: str) -> None:
        if self.session.execute(self._latest, (name,)).one() is None:
            raise RegistryError(f"unknown model {name!r}")

    # -- aliases ----------------------------------------------------------------------------------------------

    def aliases(self, name: str) -> dict[str, tuple[int, ...]]:
        """alias -> versions; one single-partition read (what hot reload polls)."""
        return {a: tuple(v for v, _ in rows) for a, rows in self._alias_rows(name).items()}

    def _alias_rows(self, name: str) -> dict[str, list[tuple[int, int]]]:
        rows: dict[str, list[tuple[int, int]]] = {}
        for row in map(AliasWrite._make, self.session.execute(self._aliases, (name,))):
            rows.setdefault(row.alias, []).append((row.version, row.written or 0))
        return rows

    def set_alias(self, name: str, alias: str, version: int, reason: str = "", actor: str | None = None) -> AliasPlan:
        self.get(name, version)
        return self._apply(name, lambda held: plan_set(held, alias, version, reason, actor or current_actor()))

    def unset_alias(
        self,
        name: str,
        alias: str,
        version: int | None = None,
        reason: str = "",
        actor: str | None = None,
        action: AliasAction = AliasAction.UNSET,  # AUTO_ROLLBACK when a rollout's guardrail removes its canary
    ) -> AliasPlan:
        self._require_model(name)
        return self._apply(
            name, lambda held: plan_unset(held, alias, version, reason, actor or current_actor(), action)
        )

    def promote(
        self,
        name: str,
        version: int,
        reason: str = "",
        actor: str | None = None,
        action: AliasAction = AliasAction.PROMOTE,
    ) -> AliasPlan:
        """``action`` is SWITCH for a blue-green flip; either way the previous champion is one rollback away."""
        self.get(name, version)
        return self._apply(name, lambda held: plan_promote(held, version, reason, actor or current_actor(), action))

    def rollback(self, name: str, reason: str = "", actor: str | None = None) -> AliasPlan:
        """Champion back to the champion before it; refused when there is none."""
        self._require_model(name)
        history = list(reversed(self.history(name)))

        def plan(held: Aliases) -> AliasPlan:
            target = rollback_target(history, single(held, "champion"))
            return plan_promote(held, target, reason, actor or current_actor(), action=AliasAction.ROLLBACK)

        return self._apply(name, plan)

    def quarantine(
        self, name: str, alias: str, version: int, fallback: int | None, reason: str, actor: str | None = None
    ) -> AliasPlan:
        """A version failed live: ``alias`` goes back to ``fallback`` (or drops it), with a "quarantine" history row.

        Nothing is written when the alias no longer holds ``version``. Rolling back later skips the quarantined
        version like any rolled-back one.
        """
        return self._apply(
            name, lambda held: plan_quarantine(held, alias, version, fallback, reason[:1000], actor or current_actor())
        )

    def history(self, name: str) -> list[AliasChange]:
        """Every alias change of ``name``, newest first."""
        return [
            AliasChange(
                r.alias,
                r.version,
                r.previous_version,
                AliasAction(r.action),
                r.reason or "",
                r.actor or "",
                datetime_from_uuid1(r.changed_at).replace(tzinfo=UTC),
            )
            for r in map(AliasHistoryRow._make, self.session.execute(self._history, (name,)))
        ]

    def _apply(self, name: str, make_plan: Callable[[Aliases], AliasPlan]) -> AliasPlan:
        rows = self._alias_rows(name)
        held = {a: tuple(v for v, _ in r) for a, r in rows.items()}
        plan = make_plan(held)
        if plan.empty:
            return plan
        now_us = time.time_ns() // 1000
        t = write_timestamp(now_us, (w for r in rows.values() for _, w in r))
        updated_at = datetime.now(UTC)
        # Logged: the alias rows and their history are all-or-nothing; the alias rows share one partition,
        # so readers never see a half-applied change. At the session's consistency (settings).
        batch = BatchStatement()
        for alias in plan.delete_slices:
            batch.add(self._delete_slice, (t, name, alias))
        for alias, version in plan.delete_rows:
            batch.add(self._delete_row, (t, name, alias, version))
        for alias, version in plan.inserts:
            batch.add(self._insert_alias, (name, alias, version, updated_at, t + 1))
        for i, change in enumerate(plan.history):
            changed_at = uuid_from_time((now_us + i) / 1e6)
            row = AliasHistoryRow(
                changed_at, change.alias, change.version, change.previous, change.action, change.reason, change.actor
            )
            batch.add(self._append_history, (name, *row))
        self.session.execute(batch)
        return plan
