"""Alias and version resolution from a model's catalog rows."""

from __future__ import annotations

import asyncio

import pytest

from lookup_api.catalog import Catalogs, Resolved, build_catalog
from lookup_api.connection import Row
from lookup_api.errors import ApiError
from lookup_api.validation import Selector

CATALOG = build_catalog(
    "fraud",
    [("champion", 3), ("challenger", 5), ("challenger", 4), ("canary", 4)],
    [(5,), (4,), (3,), (2,)],
)


def test_serving_alias_and_named_alias_resolve_to_their_version() -> None:
    assert CATALOG.resolve(Selector(), "champion") == Resolved(3, "champion")
    assert CATALOG.resolve(Selector(alias="canary"), "champion") == Resolved(4, "canary")
    assert CATALOG.resolve(Selector(), "canary") == Resolved(4, "canary")


def test_explicit_version_must_exist() -> None:
    assert CATALOG.resolve(Selector(version=2), "champion") == Resolved(2, None)
    with pytest.raises(ApiError) as caught:
        CATALOG.resolve(Selector(version=9), "champion")
    assert (caught.value.status, caught.value.code) == (404, "unknown_version")


def test_unknown_alias_and_unknown_model_are_404() -> None:
    with pytest.raises(ApiError) as caught:
        CATALOG.resolve(Selector(alias="blue"), "champion")
    assert caught.value.code == "unknown_alias"
    assert "canary, challenger, champion" in caught.value.message
    with pytest.raises(ApiError) as caught:
        build_catalog("nope", [], []).resolve(Selector(), "champion")
    assert (caught.value.status, caught.value.code) == (404, "unknown_model")


def test_an_alias_holding_several_versions_is_a_409() -> None:
    with pytest.raises(ApiError) as caught:
        CATALOG.resolve(Selector(alias="challenger"), "champion")
    assert (caught.value.status, caught.value.code) == (409, "ambiguous_alias")
    assert "4, 5" in caught.value.message


def test_catalogs_read_each_model_once_per_ttl() -> None:
    reads: list[str] = []

    async def aliases(model: str) -> list[Row]:
        reads.append(f"aliases:{model}")
        return [("champion", 1)]

    async def versions(model: str) -> list[Row]:
        reads.append(f"versions:{model}")
        return [(1,)]

    catalogs = Catalogs(aliases, versions, ttl_s=60)

    async def scenario() -> None:
        for _ in range(20):
            assert (await catalogs.get("fraud")).aliases == {"champion": (1,)}
        await catalogs.get("other")

    asyncio.run(scenario())
    assert sorted(reads) == ["aliases:fraud", "aliases:other", "versions:fraud", "versions:other"]
