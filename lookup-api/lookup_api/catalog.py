"""Which version a request reads: a model's aliases and versions, cached for ``alias_ttl_ms``.

A model's catalog is two single-partition reads (``model_aliases`` and ``model_versions`` share the model as
partition key), run together and cached per model. An alias flip (promote, rollback, blue-green switch) is
therefore served at most ``alias_ttl_ms`` plus one read after it was written; unknown models are cached
too, so probing random names costs Cassandra nothing more than known ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial

from lookup_api.cassandra_async import Row
from lookup_api.errors import ApiError, not_found
from lookup_api.ttl_cache import MISSING, AsyncTTLCache
from lookup_api.validation import Selector


@dataclass(frozen=True)
class Resolved:
    version: int
    alias: str | None  # None when the request named a version


@dataclass(frozen=True)
class ModelCatalog:
    model: str
    versions: frozenset[int]
    aliases: Mapping[str, tuple[int, ...]]

    @property
    def known(self) -> bool:
        return bool(self.versions or self.aliases)

    def resolve(self, selector: Selector, serving_alias: str) -> Resolved:
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


def build_catalog(model: str, alias_rows: list[Row], version_rows: list[Row]) -> ModelCatalog:
    """From ``(alias, version)`` and ``(version,)`` rows."""
    aliases: dict[str, list[int]] = {}
    for alias, version in alias_rows:
        aliases.setdefault(alias, []).append(version)
    return ModelCatalog(
        model=model,
        versions=frozenset(row[0] for row in version_rows),
        aliases={alias: tuple(sorted(versions)) for alias, versions in aliases.items()},
    )


Query = Callable[[str], Awaitable[list[Row]]]


class Catalogs:
    """Per-model catalogs behind a TTL cache; ``aliases`` and ``versions`` read one model's partition."""

    def __init__(self, aliases: Query, versions: Query, ttl_s: float, maxsize: int = 10_000) -> None:
        self._aliases = aliases
        self._versions = versions
        self.cache: AsyncTTLCache[str, ModelCatalog] = AsyncTTLCache(maxsize=maxsize, ttl_s=ttl_s)

    async def get(self, model: str) -> ModelCatalog:
        load = partial(self._load, model)
        catalog = self.cache.peek(model, load)
        return await self.cache.wait(model, load) if catalog is MISSING else catalog

    async def _load(self, model: str) -> ModelCatalog:
        alias_rows, version_rows = await asyncio.gather(self._aliases(model), self._versions(model))
        return build_catalog(model, alias_rows, version_rows)
