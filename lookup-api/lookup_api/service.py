"""The lookup core: resolve the version, read the predictions, list the registry. HTTP lives in routes.py.

Every read goes through the one shared connection (``store``) with prepared statements (token-aware routing
picks a replica of the partition). Per request: the key record, the model catalog and (optionally) the prediction
come from short-TTL caches; only the prediction itself is normally a Cassandra read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from lookup_api.auth import Authenticator
from lookup_api.catalog import Catalogs, Resolved
from lookup_api.config import ApiSettings
from lookup_api.connection import (
    ALIASES,
    ALL_ALIASES,
    ALL_VERSIONS,
    API_KEY,
    API_KEY_IDS,
    LATEST,
    PING,
    ROLLOUT,
    VERSIONS,
    Row,
)
from lookup_api.errors import UNAVAILABLE, UnreadableRowError, not_found
from lookup_api.keys import ApiKey
from lookup_api.predictions import Predictions, gather_bounded, render
from lookup_api.ratelimit import RateLimiter
from lookup_api.store import LookupStore, connector
from lookup_api.timestamps import MAX_MS, MIN_MS, from_ms
from lookup_api.ttl_cache import AsyncTTLCache
from lookup_api.validation import BatchRequest, Selector
from scorecast.io.cql.models import ModelAliasRow, VersionSummary
from scorecast.settings import Settings

log = logging.getLogger(__name__)


class _Found:
    """A batch's answer, entity by entity: rendered rows, ids without a row, ids whose row cannot be served."""

    def __init__(self) -> None:
        self.results: list[dict[str, Any]] = []
        self.missing: list[str] = []
        self.unreadable: list[str] = []

    def add(self, entity_id: str, row: Row | None, fields: dict[str, Any]) -> None:
        if row is None:
            self.missing.append(entity_id)
            return
        try:
            self.results.append({"entity_id": entity_id, **fields, **render(row)})
        except UnreadableRowError:  # that entity's problem: the rest of the batch is served
            self.unreadable.append(entity_id)

    def fields(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"results": self.results, "not_found": self.missing}
        if self.unreadable:
            answer["unreadable"] = self.unreadable
        return answer


class LookupService:
    def __init__(
        self, settings: Settings, api: ApiSettings, on_rate_limited: Callable[[ApiKey], None] = lambda key: None
    ) -> None:
        self.api = api
        self.store = LookupStore(connector(settings, api), api)
        self.catalogs = Catalogs(
            self._read_aliases, self._read_versions, ttl_s=api.alias_ttl_ms / 1000, rollout=self._read_rollout
        )
        self.predictions = Predictions(self._read_latest, api.cache_ttl_ms / 1000, api.cache_max_entries)
        limiter = RateLimiter(share=1 / api.workers)
        self.auth = Authenticator(self._read_key, self._read_key_ids, api.key_ttl_ms / 1000, limiter, on_rate_limited)
        # a probe every few ms (many pods, many probers) costs one ping per period, not one per probe
        self.readiness: AsyncTTLCache[None, tuple[bool, str]] = AsyncTTLCache(
            1, api.ready_cache_ms / 1000, refresh_after=1.0
        )

    def caches(self) -> dict[str, AsyncTTLCache[Any, Any]]:
        caches: dict[str, AsyncTTLCache[Any, Any]] = {
            "alias": self.catalogs.cache,
            "api_key": self.auth.cache,
            "api_key_ids": self.auth.key_ids.cache,
            "readiness": self.readiness,
        }
        if self.predictions.cache is not None:
            caches["prediction"] = self.predictions.cache
        return caches

    # reads, each one prepared statement on one partition
    def _read_latest(self, model: str, version: int, entity_id: str) -> Awaitable[list[Row]]:
        return self.store.query(LATEST, (model, version, entity_id))

    def _read_aliases(self, model: str) -> Awaitable[list[Row]]:
        return self.store.query(ALIASES, (model,))

    def _read_versions(self, model: str) -> Awaitable[list[Row]]:
        return self.store.query(VERSIONS, (model,))

    def _read_rollout(self, model: str) -> Awaitable[list[Row]]:
        return self.store.query(ROLLOUT, (model,))

    def _read_key(self, key_id: str) -> Awaitable[list[Row]]:
        return self.store.query(API_KEY, (key_id,))

    def _read_key_ids(self) -> Awaitable[list[Row]]:
        return self.store.query(API_KEY_IDS, ())

    async def resolve(
        self, key: ApiKey | None, model: str, selector: Selector, entity_id: str | None = None
    ) -> Resolved:
        Authenticator.authorize(key, model)  # 403 before 404: a key cannot probe models it may not read
        catalog = await self.catalogs.get(model)
        return catalog.resolve(selector, self.api.serving_alias, entity_id)

    async def prediction(self, key: ApiKey | None, model: str, entity_id: str, selector: Selector) -> dict[str, Any]:
        resolved = await self.resolve(key, model, selector, entity_id)
        row = await self.predictions.latest(model, resolved.version, entity_id)
        if row is None:
            raise not_found(
                "prediction_not_found", f"no prediction of {model!r} version {resolved.version} for this entity"
            )
        return {
            "entity_id": entity_id,
            "model": model,
            "version": resolved.version,
            "alias": resolved.alias,
            "variant": resolved.variant or resolved.alias,
            **render(row),
        }

    async def batch(self, key: ApiKey | None, model: str, request: BatchRequest) -> dict[str, Any]:
        resolved = await self.resolve(key, model, request.selector)
        catalog = await self.catalogs.get(model)
        split = catalog.split(request.selector, self.api.serving_alias)
        if split is not None:
            return await self._split_batch(model, request, [split.resolve(e) for e in request.entity_ids])
        rows = await self.predictions.many(model, resolved.version, request.entity_ids, self.api.batch_concurrency)
        found = _Found()
        for entity_id, row in zip(request.entity_ids, rows, strict=True):
            found.add(entity_id, row, {})
        return {"model": model, "version": resolved.version, "alias": resolved.alias, **found.fields()}

    async def _split_batch(self, model: str, request: BatchRequest, served: list[Resolved]) -> dict[str, Any]:
        """A batch during a rollout: each entity read from the version its variant serves, in one pass."""
        limit = self.api.batch_concurrency
        starts = [
            partial(self.predictions.latest, model, r.version, e)
            for e, r in zip(request.entity_ids, served, strict=True)
        ]
        rows = await gather_bounded(starts, limit)
        found = _Found()
        for entity_id, resolved, row in zip(request.entity_ids, served, rows, strict=True):
            found.add(entity_id, row, {"version": resolved.version, "variant": resolved.variant})
        champion = next((r.version for r in served if r.variant == "champion"), served[0].version if served else None)
        return {"model": model, "version": champion, "alias": "champion", **found.fields()}

    async def models(self, key: ApiKey | None) -> dict[str, Any]:
        version_rows, alias_rows = await asyncio.gather(
            self.store.query(ALL_VERSIONS, ()), self.store.query(ALL_ALIASES, ())
        )
        models: dict[str, dict[str, Any]] = {}
        for v in map(VersionSummary._make, version_rows):
            entry = models.setdefault(v.model, {"model": v.model, "versions": [], "aliases": {}})
            created_ms = v.created_at
            created_at = from_ms(created_ms) if MIN_MS <= (created_ms or 0) <= MAX_MS else None  # odd: unknown
            entry["versions"].append({"version": v.version, "created_at": created_at, "description": v.description})
        for a in map(ModelAliasRow._make, alias_rows):
            entry = models.setdefault(a.model, {"model": a.model, "versions": [], "aliases": {}})
            entry["aliases"].setdefault(a.alias, []).append(a.version)
        listed = [m for name, m in sorted(models.items()) if key is None or key.allows(name)]
        for entry in listed:
            entry["versions"].sort(key=lambda v: v["version"])
            for versions in entry["aliases"].values():
                versions.sort()
        return {"models": listed}

    async def ready(self) -> tuple[bool, str]:
        """Whether Cassandra answers, as found at most ``ready_cache_ms`` ago; the reason says nothing internal."""
        return await self.readiness.get(None, self._ping)

    async def _ping(self) -> tuple[bool, str]:
        try:
            await self.store.query(PING, ())
        except Exception as error:  # not ready, whatever the reason; the details are for the log
            log.warning("not ready: %s: %s", type(error).__name__, error)
            return False, UNAVAILABLE
        return True, "ready"
