"""Which version a request reads: a model's aliases and versions, cached for ``alias_ttl_ms``.

A model's catalog is two single-partition reads (``model_aliases`` and ``model_versions`` share the model as
partition key), run together and cached per model. An alias flip (promote, rollback, blue-green switch) is
therefore served at most ``alias_ttl_ms`` plus one read after it was written; unknown models are cached
too, so probing random names costs Cassandra nothing more than known ones. While a rollout (canary or A/B,
scorers/rollouts) is active, the newest rollout row is read with them and the serving alias resolves per
entity: the rollout's entity-hash split picks the champion's or the candidate's precomputed prediction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial

from lookup_api.connection import Row
from lookup_api.errors import ApiError, not_found
from lookup_api.ttl_cache import MISSING, AsyncTTLCache
from lookup_api.validation import Selector
from scorecast.io.cql.models import AliasRow
from scorecast.io.cql.rollouts import RolloutSplitRow
from scorers.rollouts.split import CANDIDATE, CHAMPION, TrafficSplit
from scorers.rollouts.status import is_active


@dataclass(frozen=True)
class Resolved:
    version: int
    alias: str | None  # None when the request named a version
    variant: str | None = None  # champion or candidate while a rollout splits the serving alias


@dataclass(frozen=True)
class RolloutSplit:
    """The active rollout's split of the champion's traffic: who is served ``candidate`` instead."""

    champion: int
    candidate: int
    split: TrafficSplit

    def resolve(self, entity_id: str) -> Resolved:
        if self.split.serves_candidate(entity_id):
            return Resolved(self.candidate, "champion", CANDIDATE)
        return Resolved(self.champion, "champion", CHAMPION)


@dataclass(frozen=True)
class ModelCatalog:
    model: str
    versions: frozenset[int]
    aliases: Mapping[str, tuple[int, ...]]
    rollout: RolloutSplit | None = None

    @property
    def known(self) -> bool:
        return bool(self.versions or self.aliases)

    def split(self, selector: Selector, serving_alias: str) -> RolloutSplit | None:
        """The rollout split that applies to this request: only a request for the champion is split."""
        if self.rollout is None or selector.version is not None or (selector.alias or serving_alias) != "champion":
            return None
        return self.rollout

    def resolve(self, selector: Selector, serving_alias: str, entity_id: str | None = None) -> Resolved:
        split = self.split(selector, serving_alias) if entity_id is not None else None
        if split is not None and entity_id is not None:
            return split.resolve(entity_id)
        if not self.known:
            raise not_found("unknown_model", f"no model named {self.model!r}")
        if selector.version is not None:
            if selector.version not in self.versions:
                raise not_found("unknown_version", f"model {self.model!r} has no version {selector.version}")
            return Resolved(selector.version, None)
        alias = selector.alias or serving_alias
        versions = self.aliases.get(alias, ())
        if not versions:
            named = ", ".join(sorted(self.aliases)) or "none"
            raise not_found("unknown_alias", f"model {self.model!r} has no alias {alias!r} (aliases: {named})")
        if len(versions) > 1:
            listed = ", ".join(map(str, versions))
            raise ApiError(
                409, "ambiguous_alias", f"alias {alias!r} of {self.model!r} holds versions {listed}; ask for one"
            )
        return Resolved(versions[0], alias)


def build_catalog(
    model: str, alias_rows: list[Row], version_rows: list[Row], rollout_rows: list[Row] | None = None
) -> ModelCatalog:
    """From ``AliasRow``s, ``(version,)`` rows and the newest ``RolloutSplitRow`` (if read)."""
    aliases: dict[str, list[int]] = {}
    for row in map(AliasRow._make, alias_rows):
        aliases.setdefault(row.alias, []).append(row.version)
    held = {alias: tuple(sorted(versions)) for alias, versions in aliases.items()}
    rollout = None
    if rollout_rows:
        r = RolloutSplitRow._make(rollout_rows[0])
        # Served only while the registry agrees: a rollback removes the canary alias before the row changes.
        if is_active(r.status) and held.get("canary") == (r.candidate,) and held.get("champion") == (r.baseline,):
            rollout = RolloutSplit(r.baseline, r.candidate, TrafficSplit(r.fraction or 0.0, r.salt or ""))
    return ModelCatalog(model=model, versions=frozenset(row[0] for row in version_rows), aliases=held, rollout=rollout)


Query = Callable[[str], Awaitable[list[Row]]]


class Catalogs:
    """Per-model catalogs behind a TTL cache; ``aliases`` and ``versions`` read one model's partition."""

    def __init__(
        self, aliases: Query, versions: Query, ttl_s: float, maxsize: int = 10_000, rollout: Query | None = None
    ) -> None:
        self._aliases = aliases
        self._versions = versions
        self._rollout = rollout
        self.cache: AsyncTTLCache[str, ModelCatalog] = AsyncTTLCache(maxsize=maxsize, ttl_s=ttl_s)

    async def get(self, model: str) -> ModelCatalog:
        load = partial(self._load, model)
        catalog = self.cache.peek(model, load)
        return await self.cache.wait(model, load) if catalog is MISSING else catalog

    async def _load(self, model: str) -> ModelCatalog:
        if self._rollout is None:
            alias_rows, version_rows = await asyncio.gather(self._aliases(model), self._versions(model))
            return build_catalog(model, alias_rows, version_rows)
        alias_rows, version_rows, rollout_rows = await asyncio.gather(
            self._aliases(model), self._versions(model), self._rollout(model)
        )
        return build_catalog(model, alias_rows, version_rows, rollout_rows)
