"""Hot reload against an in-memory registry double: swaps between batches, refusals, caching, the thread."""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import UTC, datetime

import numpy as np
import pytest

from schemas.features import FeatureSpec
from scorecast.settings import Settings
from scorers.aliases import AliasAction, AliasChange
from scorers.errors import ModelVerificationError, RegistryError
from scorers.hot_reload import AliasWatcher, ModelLoader, follow
from scorers.registry import ModelVersion
from scorers.runtime import probe_batch
from scorers.signature import OutputSpec
from tests.unit.scorers import onnx_builders as build


class MemoryRegistry:
    """The registry calls hot reload makes, over dicts; counts artifact fetches."""

    def __init__(self, spec: FeatureSpec) -> None:
        self.spec = spec
        self.alias_map: dict[str, tuple[int, ...]] = {}
        self.metas: dict[int, ModelVersion] = {}
        self.blobs: dict[int, bytes] = {}
        self.fetches = 0
        self.fail_polls = False
        self.changes: list[AliasChange] = []  # oldest first

    @classmethod
    def only(cls, other: MemoryRegistry, version: int) -> MemoryRegistry:
        """A registry holding just ``version`` of ``other``, as champion."""
        reg = cls(other.spec)
        reg.metas[version], reg.blobs[version] = other.metas[version], other.blobs[version]
        reg.promote(version)
        return reg

    def promote(self, *versions: int) -> None:
        """Champion changes, one promote each, as Registry.promote would record them."""
        for version in versions:
            previous = self.alias_map.get("champion", (None,))[0]
            self.changes.append(AliasChange("champion", version, previous, AliasAction.PROMOTE))
            self.alias_map = {**self.alias_map, "champion": (version,)}

    def add(self, version: int, data: bytes, sha256: str | None = None) -> None:
        self.metas[version] = ModelVersion(
            "fraud", version, datetime.now(UTC), "test", "", sha256 or hashlib.sha256(data).hexdigest(),
            f"mem://{version}", self.spec, OutputSpec("x", "score", 0), None, {},
        )  # fmt: skip
        self.blobs[version] = data

    def get(self, name: str, version: int) -> ModelVersion:
        if version not in self.metas:
            raise RegistryError(f"unknown version {name}@{version}")
        return self.metas[version]

    def artifact(self, version: ModelVersion) -> bytes:
        self.fetches += 1
        return self.blobs[version.version]

    def aliases(self, name: str) -> dict[str, tuple[int, ...]]:
        if self.fail_polls:
            raise TimeoutError("cassandra timed out")
        return dict(self.alias_map)

    def history(self, name: str) -> list[AliasChange]:
        return list(reversed(self.changes))


def weights(scale: float) -> np.ndarray:
    return np.full((16, 1), scale, dtype=np.float32)


@pytest.fixture
def registry(spec: FeatureSpec) -> MemoryRegistry:
    reg = MemoryRegistry(spec)
    for version, scale in ((1, 0.01), (2, -0.01), (3, 0.02)):
        reg.add(version, build.logistic(weights(scale)))
    reg.alias_map = {"champion": (1,)}
    return reg


def watcher(registry: MemoryRegistry, aliases: tuple[str, ...] = ("champion",), interval: float = 1.0) -> AliasWatcher:
    return AliasWatcher(registry, ModelLoader(registry, Settings(onnx_device="cpu")), "fraud", aliases, interval)


def test_swap_happens_between_batches_never_inside_one(registry: MemoryRegistry, spec: FeatureSpec) -> None:
    w = watcher(registry)
    w.refresh()
    batch = probe_batch(spec, rows=32)
    in_flight = w.current()  # what a scorer holds while it scores one batch
    registry.alias_map = {"champion": (2,)}
    assert w.refresh() is True
    assert in_flight.champion.version == 1  # the batch in flight finishes on the version it started with
    assert w.current().champion.version == 2
    assert not np.allclose(in_flight.champion.predict(batch), w.current().champion.predict(batch))
    assert w.refresh() is False


def test_model_that_fails_verification_is_refused_and_previous_keeps_serving(
    registry: MemoryRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    registry.add(4, b"not an onnx model")
    registry.add(5, build.logistic(), sha256="0" * 64)
    w = watcher(registry)
    w.refresh()
    for bad in (4, 5):
        registry.alias_map = {"champion": (bad,)}
        with caplog.at_level(logging.ERROR, logger="scorers.hot_reload"):
            assert w.refresh() is False
            fetched = registry.fetches
            assert w.refresh() is False
        assert w.current().champion.version == 1
        assert registry.fetches == fetched  # an immutable version refused once is not fetched again
    messages = [r.getMessage() for r in caplog.records]
    assert any("fraud@4 refused: not a loadable ONNX model" in m for m in messages)
    assert any("fraud@5 refused: checksum mismatch" in m for m in messages)
    assert len(messages) == 2  # logged once each, not once per poll


def test_rollback_to_a_cached_version_fetches_nothing(registry: MemoryRegistry) -> None:
    w = watcher(registry)
    w.refresh()
    registry.alias_map = {"champion": (2,)}
    w.refresh()
    fetched = registry.fetches
    registry.alias_map = {"champion": (1,)}
    assert w.refresh() is True
    assert w.current().champion.version == 1
    assert registry.fetches == fetched


def test_challengers_follow_and_a_refused_one_is_left_out(registry: MemoryRegistry) -> None:
    registry.add(6, b"garbage")
    registry.alias_map = {"champion": (1,), "challenger": (2, 3)}
    w = watcher(registry, ("champion", "challenger"))
    provider = w.models("challenger")
    w.refresh()
    assert [m.version for m in provider()] == [2, 3]
    registry.alias_map = {"champion": (1,), "challenger": (3, 6)}
    w.refresh()
    assert [m.version for m in provider()] == [3]
    registry.alias_map = {"champion": (1,)}
    w.refresh()
    assert provider() == ()


def test_start_needs_a_champion(registry: MemoryRegistry) -> None:
    registry.alias_map = {}
    with pytest.raises(RegistryError, match="no champion could be loaded"):
        watcher(registry).start()
    registry.add(7, b"garbage")
    registry.alias_map = {"champion": (7,)}
    with pytest.raises(RegistryError, match="fraud@7 refused: not a loadable ONNX model"):
        watcher(registry).start()


def test_unset_champion_keeps_the_loaded_one(registry: MemoryRegistry) -> None:
    w = watcher(registry)
    w.refresh()
    registry.alias_map = {}
    assert w.refresh() is False
    assert w.current().champion.version == 1


def test_background_thread_follows_changes_and_survives_failed_polls(registry: MemoryRegistry) -> None:
    settings = Settings(onnx_device="cpu", model_poll_interval_s=0.01)
    with follow(registry, settings, "fraud", stream="transactions") as w:
        assert w.current().champion.version == 1
        registry.fail_polls = True
        time.sleep(0.05)
        registry.fail_polls = False
        registry.alias_map = {"champion": (3,)}
        deadline = time.monotonic() + 10
        while w.current().champion.version != 3 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert w.current().champion.version == 3


def test_model_of_another_stream_is_refused(registry: MemoryRegistry, spec: FeatureSpec) -> None:
    loader = ModelLoader(registry, Settings(onnx_device="cpu"), stream="payments")
    with pytest.raises(ModelVerificationError, match="takes stream 'transactions', this worker scores 'payments'"):
        loader.load("fraud", 1)
