"""Which model version is champion (and which are challengers), and their reference profiles and offline metrics.

``RegistryReferences`` reads them from the registry, re-reading the alias partition at most once per
``interval_s`` and each version's metadata once. ``FixedReferences`` serves one profile from a file, for a
model that is not in the registry or a drift check against a chosen baseline.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from schemas.features import FeatureSpec, load_feature_spec
from scorecast.errors import ScorecastError
from scorers.profile import ReferenceProfile, load_reference
from scorers.registry import ModelVersion, Registry

log = logging.getLogger(__name__)


class References(Protocol):
    def champion(self) -> int | None: ...
    def challengers(self) -> tuple[int, ...]: ...
    def profile(self, version: int) -> ReferenceProfile | None: ...
    def spec(self, version: int) -> FeatureSpec: ...


class RegistryReferences:
    def __init__(
        self, registry: Registry, model: str, interval_s: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.registry = registry
        self.model = model
        self.interval_s = interval_s
        self._clock = clock
        self._aliases: dict[str, tuple[int, ...]] = {}
        self._read_at = -float("inf")
        self._versions: dict[int, ModelVersion] = {}

    def _refresh(self) -> None:
        now = self._clock()
        if now - self._read_at >= self.interval_s:
            self._aliases = self.registry.aliases(self.model)
            self._read_at = now

    def champion(self) -> int | None:
        self._refresh()
        held = self._aliases.get("champion", ())
        return held[0] if held else None

    def challengers(self) -> tuple[int, ...]:
        self._refresh()
        return self._aliases.get("challenger", ())

    def version(self, version: int) -> ModelVersion:
        if version not in self._versions:
            self._versions[version] = self.registry.get(self.model, version)
        return self._versions[version]

    def profile(self, version: int) -> ReferenceProfile | None:
        return self.version(version).reference_profile

    def spec(self, version: int) -> FeatureSpec:
        return self.version(version).feature_spec

    def metrics(self, version: int) -> dict[str, Any]:
        return self.version(version).metrics


class FixedReferences:
    """One reference for every version: ``path`` is a profile (.json) or training data (.npy, .avro)."""

    def __init__(self, path: Path, stream: str, version: int = 0) -> None:
        self._spec = load_feature_spec(stream)
        try:
            self._profile = load_reference(path, self._spec)
        except ValueError as error:
            raise ScorecastError(str(error)) from error
        self._version = version

    def champion(self) -> int | None:
        return self._version

    def challengers(self) -> tuple[int, ...]:
        return ()

    def profile(self, version: int) -> ReferenceProfile | None:
        return self._profile

    def spec(self, version: int) -> FeatureSpec:
        return self._spec
