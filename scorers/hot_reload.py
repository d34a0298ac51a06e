"""Hot reload: workers follow alias changes without a restart, swapping models only between batches.

An ``AliasWatcher`` re-reads the model's alias partition (one cheap single-partition read) every
``settings.model_poll_interval_s``. When an alias points somewhere new it loads and verifies that version
first, then replaces the immutable ``Serving`` snapshot in one reference assignment. A scorer calls
``current()`` once per micro-batch and scores the whole batch with that snapshot, so a batch is never split
between versions nor scored twice. A version that fails to load or verify is logged and refused; the
previous version keeps serving. Loaded sessions stay cached per version, so a rollback is instant.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol

import numpy as np

from scorecast.errors import ScorecastError
from scorecast.settings import Settings
from scorers.aliases import SINGLE_VALUED
from scorers.errors import ModelVerificationError, RegistryError
from scorers.registry import ModelVersion
from scorers.runtime import OnnxModel

log = logging.getLogger(__name__)


class VersionSource(Protocol):
    """What hot reload needs of the registry (``scorers.registry.Registry`` is one)."""

    def get(self, name: str, version: int) -> ModelVersion: ...
    def artifact(self, version: ModelVersion) -> bytes: ...
    def aliases(self, name: str) -> dict[str, tuple[int, ...]]: ...


@dataclass(frozen=True)
class LoadedModel:
    """One verified model version, ready to score (what the scoring core calls)."""

    name: str
    version: int
    sha256: str
    model: OnnxModel

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self.model.predict(features)

    def predict_unchecked(self, features: np.ndarray) -> np.ndarray:
        return self.model.predict_unchecked(features)


@dataclass(frozen=True)
class Serving:
    """The models serving now, by alias; replaced whole on every change, never mutated."""

    aliases: Mapping[str, tuple[LoadedModel, ...]] = field(default_factory=dict)
    since: float = field(default_factory=time.monotonic)

    def get(self, alias: str) -> tuple[LoadedModel, ...]:
        return self.aliases.get(alias, ())

    @property
    def champion(self) -> LoadedModel:
        held = self.get("champion")
        if not held:
            raise RegistryError("no champion is loaded")
        return held[0]

    @property
    def versions(self) -> dict[str, tuple[int, ...]]:
        return {alias: tuple(m.version for m in models) for alias, models in self.aliases.items()}


class ModelLoader:
    """Loads registry versions once per process and keeps them: one session per version, LRU beyond ``keep``."""

    def __init__(self, registry: VersionSource, settings: Settings, stream: str | None = None, keep: int = 8) -> None:
        self._registry = registry
        self._settings = settings
        self._stream = stream
        self._keep = keep
        self._cache: OrderedDict[tuple[str, int], LoadedModel] = OrderedDict()
        self._lock = threading.Lock()

    def load(self, name: str, version: int) -> LoadedModel:
        with self._lock:
            key = (name, version)
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            meta = self._registry.get(name, version)
            if self._stream is not None and meta.feature_spec.stream != self._stream:
                raise ModelVerificationError(
                    f"{name}@{version} takes stream {meta.feature_spec.stream!r}, this worker scores {self._stream!r}"
                )
            model = OnnxModel.load(
                self._registry.artifact(meta),
                meta.feature_spec,
                expected_sha256=meta.sha256,
                device=self._settings.onnx_device,
                intra_op_threads=self._settings.onnx_intra_op_threads,
            )
            loaded = LoadedModel(name, version, meta.sha256, model)
            self._cache[key] = loaded
            while len(self._cache) > self._keep:
                self._cache.popitem(last=False)
            return loaded


class AliasWatcher:
    """Follows ``aliases`` of model ``name``; the first alias must load at ``start`` (there is nothing to keep)."""

    def __init__(
        self,
        registry: VersionSource,
        loader: ModelLoader,
        name: str,
        aliases: Sequence[str] = ("champion",),
        interval_s: float = 1.0,
    ) -> None:
        self._registry = registry
        self._loader = loader
        self.name = name
        self._aliases = tuple(aliases)
        self._interval_s = interval_s
        self._serving = Serving()
        self._refused: dict[int, str] = {}  # versions are immutable: a failed verification stays failed
        self._reported: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def current(self) -> Serving:
        """The snapshot to score one whole batch with."""
        return self._serving

    def models(self, alias: str) -> Callable[[], tuple[LoadedModel, ...]]:
        """A per-batch provider of one alias's models, for the scoring loop."""
        return lambda: self._serving.get(alias)

    def start(self) -> Serving:
        self.refresh()
        if not self._serving.get(self._aliases[0]):
            reason = "; ".join(sorted(self._reported)) or f"alias {self._aliases[0]!r} is not set"
            raise RegistryError(f"{self.name}: no {self._aliases[0]} could be loaded ({reason})")
        self._thread = threading.Thread(target=self._run, name=f"alias-watcher-{self.name}", daemon=True)
        self._thread.start()
        return self._serving

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> AliasWatcher:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.refresh()
            except Exception as error:  # a failed poll (Cassandra timeout...) must not kill the watcher
                self._report(f"alias poll failed: {error}", logging.WARNING)

    def refresh(self) -> bool:
        """One poll; True when the serving snapshot changed."""
        wanted = self._registry.aliases(self.name)
        current = self._serving
        changed: dict[str, tuple[LoadedModel, ...]] = dict(current.aliases)
        for alias in self._aliases:
            versions = wanted.get(alias, ())
            if versions == current.versions.get(alias, ()):
                continue
            loaded = [m for m in (self._load(v) for v in versions) if m is not None]
            if alias in SINGLE_VALUED and len(loaded) < len(versions):
                continue  # refused: the previous version keeps serving
            if alias == "champion" and not versions:
                self._report(f"{self.name}: champion alias is unset; keeping the loaded one", logging.WARNING)
                continue
            changed[alias] = tuple(loaded)
        new = Serving(changed)
        if new.versions == current.versions:
            return False
        self._serving = new  # one reference assignment: readers see the old snapshot or the new, never a mix
        log.info("%s now serving %s (was %s)", self.name, new.versions, current.versions)
        return True

    def _load(self, version: int) -> LoadedModel | None:
        if version in self._refused:
            return None
        try:
            return self._loader.load(self.name, version)
        except ModelVerificationError as error:
            self._refused[version] = str(error)
            self._report(f"{self.name}@{version} refused: {error}", logging.ERROR)
        except ScorecastError as error:  # store or registry trouble may pass: try again next poll
            self._report(f"{self.name}@{version} not loaded: {error}", logging.ERROR)
        return None

    def _report(self, message: str, level: int) -> None:
        if message not in self._reported:  # once per distinct problem, not once per poll
            if len(self._reported) > 256:
                self._reported.clear()
            self._reported.add(message)
            log.log(level, message)


def follow(
    registry: VersionSource,
    settings: Settings,
    name: str,
    aliases: Sequence[str] = ("champion",),
    stream: str | None = None,
) -> AliasWatcher:
    """A watcher (not started) configured from settings: device, threads and poll interval."""
    return AliasWatcher(
        registry, ModelLoader(registry, settings, stream), name, aliases, settings.model_poll_interval_s
    )
