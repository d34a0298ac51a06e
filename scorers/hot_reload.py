"""Hot reload: workers follow alias changes without a restart, swapping models only between batches.

An ``AliasWatcher`` re-reads the model's alias partition (one cheap single-partition read) every
``settings.model_poll_interval_s``. When an alias points somewhere new it loads and verifies that version
first, then replaces the immutable ``Serving`` snapshot in one reference assignment. A scorer calls
``current()`` once per micro-batch and scores the whole batch with that snapshot, so a batch is never split
between versions nor scored twice. A version that fails to load or verify is logged and refused; the
previous version keeps serving. Loaded sessions stay cached per version, so a rollback is instant.

A single-valued alias whose version fails verification is recorded in ``refusals`` with the version serving
instead: at ``start`` that is the newest earlier version of the alias history that verifies, on a live change
the one already serving. A version that fails on a live batch is ``quarantine``d (refused from then on) and
replaced by one that worked (``fallbacks``). What is done about either is scorers.quarantine's business.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol

import numpy as np

from scorecast.errors import ScorecastError
from scorecast.settings import Settings
from scorers.aliases import SINGLE_VALUED, AliasChange, fallback_versions
from scorers.errors import ModelVerificationError, RegistryError
from scorers.metrics import placement_loaded
from scorers.registry import ModelVersion
from scorers.runtime import PROBE_SIZES, GpuOptions, OnnxModel

log = logging.getLogger(__name__)


class VersionSource(Protocol):
    """What hot reload needs of the registry (``scorers.registry.Registry`` is one)."""

    def get(self, name: str, version: int) -> ModelVersion: ...
    def artifact(self, version: ModelVersion) -> bytes: ...
    def aliases(self, name: str) -> dict[str, tuple[int, ...]]: ...


class AliasSource(VersionSource, Protocol):
    """What an alias watcher needs: versions, aliases and the alias history (for fallbacks)."""

    def history(self, name: str) -> list[AliasChange]: ...


@dataclass(frozen=True)
class Refusal:
    """``alias`` points at ``version``, which failed verification; ``serving`` serves the alias instead."""

    alias: str
    version: int
    reason: str
    serving: int
    at: str  # "start" (fell back through the alias history) or "load" (a live alias change refused)


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

    def __init__(
        self,
        registry: VersionSource,
        settings: Settings,
        stream: str | None = None,
        keep: int = 8,
        probe_sizes: Sequence[int] = PROBE_SIZES,
    ) -> None:
        self._registry = registry
        self._settings = settings
        self._stream = stream
        self._keep = keep
        self._probe_sizes = tuple(probe_sizes)
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
                gpu=GpuOptions.from_settings(self._settings),
                probe_sizes=self._probe_sizes,
            )
            log.info("%s@%d loaded (%s form): %s", name, version, model.form, model.placement.describe())
            placement_loaded(name, version, model.provider, model.placement)
            loaded = LoadedModel(name, version, meta.sha256, model)
            self._cache[key] = loaded
            while len(self._cache) > self._keep:
                self._cache.popitem(last=False)
            return loaded


class AliasWatcher:
    """Follows ``aliases`` of model ``name``; the first alias must be servable at ``start``."""

    def __init__(
        self,
        registry: AliasSource,
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
        self._errors: dict[int, str] = {}  # the last load error of each version, for messages
        self._worked: dict[str, list[int]] = {}  # per alias, versions that scored a batch, most recent last
        self._reported: set[str] = set()
        self._swap = threading.Lock()  # the poll thread and a quarantine never build snapshots from the same base
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.refusals: list[Refusal] = []  # append-only: readers keep how many they have handled
        self._announced: set[tuple[str, int]] = set()  # (alias, version) refused or quarantined already
        self._on_refusal: list[Callable[[], None]] = []

    def current(self) -> Serving:
        """The snapshot to score one whole batch with."""
        return self._serving

    def models(self, alias: str) -> Callable[[], tuple[LoadedModel, ...]]:
        """A per-batch provider of one alias's models, for the scoring loop."""
        return lambda: self._serving.get(alias)

    def start(self) -> Serving:
        """First load; a single-valued alias that cannot be served falls back to an earlier version.

        Raises RegistryError, one line naming every version tried, only when no version can serve.
        """
        self.refresh()
        alias = self._aliases[0]
        if not self._serving.get(alias):
            self._fall_back_at_start(alias)
        if not self._serving.get(alias):
            tried = [f"{self.name}@{v} {self._errors[v]}" for v in self._errors]
            reason = "; ".join(tried) or "; ".join(sorted(self._reported)) or f"alias {alias!r} is not set"
            raise RegistryError(f"{self.name}: no {alias} could be loaded ({reason})")
        self._thread = threading.Thread(target=self._run, name=f"alias-watcher-{self.name}", daemon=True)
        self._thread.start()
        return self._serving

    def _fall_back_at_start(self, alias: str) -> None:
        wanted = self._registry.aliases(self.name).get(alias, ())
        if alias not in SINGLE_VALUED or not wanted:
            return
        fallback = next(self.fallbacks(alias, wanted[0]), None)
        if fallback is None:
            return
        with self._swap:
            self._serving = Serving({**self._serving.aliases, alias: (fallback,)})
        reason = self._errors.get(wanted[0], "could not be loaded")
        if wanted[0] in self._refused:  # verification failed: it will not pass later either
            self._announced.add((alias, wanted[0]))
            self.refusals.append(Refusal(alias, wanted[0], self._refused[wanted[0]], fallback.version, "start"))
        log.error(
            "%s@%d (%s) cannot serve: %s; serving %s@%d, the newest earlier %s that verifies, until the alias moves",
            self.name, wanted[0], alias, reason, self.name, fallback.version, alias,
        )  # fmt: skip

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> AliasWatcher:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def on_refusal(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` from the poll thread whenever ``refusals`` grew (no need to wait for a batch)."""
        self._on_refusal.append(listener)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            known = len(self.refusals)
            try:
                self.refresh()
                if len(self.refusals) > known:
                    for listener in self._on_refusal:
                        listener()
            except Exception as error:  # a failed poll (Cassandra timeout...) must not kill the watcher
                self._report(f"alias poll failed: {error}", logging.WARNING)

    def refresh(self) -> bool:
        """One poll; True when the serving snapshot changed."""
        wanted = self._registry.aliases(self.name)
        with self._swap:
            current = self._serving
            changed: dict[str, tuple[LoadedModel, ...]] = dict(current.aliases)
            for alias in self._aliases:
                versions = wanted.get(alias, ())
                if versions == current.versions.get(alias, ()):
                    continue
                loaded = [m for m in (self._load(v) for v in versions) if m is not None]
                if alias in SINGLE_VALUED and len(loaded) < len(versions):
                    self._refused_live(alias, versions[0], current.get(alias))
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

    # -- bad versions -----------------------------------------------------------------------------------------

    def _refused_live(self, alias: str, version: int, serving: tuple[LoadedModel, ...]) -> None:
        reason = self._refused.get(version)
        if reason is None or not serving:
            return  # not a verification failure (retried next poll), or nothing serves to keep
        if (alias, version) not in self._announced:
            self._announced.add((alias, version))
            self.refusals.append(Refusal(alias, version, reason, serving[0].version, "load"))

    def worked(self, alias: str, models: Sequence[LoadedModel]) -> None:
        """``models`` scored a batch of ``alias``: they are fallbacks should a later version fail."""
        seen = self._worked.setdefault(alias, [])
        for model in models:
            if seen and seen[-1] == model.version:
                continue  # the common case, once per batch: nothing to do
            if model.version in seen:
                seen.remove(model.version)
            seen.append(model.version)
            del seen[:-8]

    def fallbacks(self, alias: str, failing: int) -> Iterator[LoadedModel]:
        """Loaded versions to serve ``alias`` instead of ``failing``, best first.

        First the versions that scored batches in this process (most recent first), then the alias history's
        earlier versions (newest first, skipping rolled-back ones); each is loaded and verified on the way, and
        refused or quarantined versions are skipped.
        """
        tried = {failing}
        for version in self._candidates(alias, failing):
            if version in tried or version in self._refused:
                continue
            tried.add(version)
            model = self._load(version)
            if model is not None:
                yield model

    def _candidates(self, alias: str, failing: int) -> Iterator[int]:
        yield from reversed(self._worked.get(alias, []))
        try:
            history = self._registry.history(self.name)
        except Exception as error:  # an unreadable history only narrows the choice to what worked here
            self._report(f"{self.name}: alias history unreadable: {error}", logging.WARNING)
            return
        yield from fallback_versions(reversed(history), alias, failing)

    def quarantine(self, alias: str, version: int, reason: str, replacement: LoadedModel | None) -> Serving:
        """``version`` failed live: refused from now on, and ``replacement`` (or nothing) serves ``alias``."""
        with self._swap:
            self._refused[version] = f"quarantined: {reason}"
            self._errors[version] = self._refused[version]
            self._announced.add((alias, version))
            for seen in self._worked.values():
                if version in seen:
                    seen.remove(version)
            held = self._serving.get(alias)
            if replacement is None:
                models = tuple(m for m in held if m.version != version)
            else:
                models = tuple(replacement if m.version == version else m for m in held) or (replacement,)
            self._serving = Serving({**self._serving.aliases, alias: models})
            return self._serving

    def _load(self, version: int) -> LoadedModel | None:
        if version in self._refused:
            return None
        try:
            return self._loader.load(self.name, version)
        except ModelVerificationError as error:
            self._refused[version] = self._errors[version] = f"refused: {error}"
            self._report(f"{self.name}@{version} refused: {error}", logging.ERROR)
        except ScorecastError as error:  # store or registry trouble may pass: try again next poll
            self._errors[version] = f"not loaded: {error}"
            self._report(f"{self.name}@{version} not loaded: {error}", logging.ERROR)
        return None

    def _report(self, message: str, level: int) -> None:
        if message not in self._reported:  # once per distinct problem, not once per poll
            if len(self._reported) > 256:
                self._reported.clear()
            self._reported.add(message)
            log.log(level, message)


def follow(
    registry: AliasSource,
    settings: Settings,
    name: str,
    aliases: Sequence[str] = ("champion",),
    stream: str | None = None,
    probe_sizes: Sequence[int] = PROBE_SIZES,
) -> AliasWatcher:
    """A watcher (not started) configured from settings: device, threads, poll interval; probes of these sizes."""
    loader = ModelLoader(registry, settings, stream, probe_sizes=probe_sizes)
    return AliasWatcher(registry, loader, name, aliases, settings.model_poll_interval_s)
