"""``--model NAME@VERSION`` (or ``NAME@alias``): the versions a replay scores, pinned at its start.

The registry resolves each reference once; the metadata and artifact bytes are then held in a
``PinnedVersions``, the ``VersionSource`` every replay process hands to ``scorers.hot_reload.ModelLoader``.
So each process loads and verifies the versions exactly as a live worker does (checksum, signature, probe),
an alias moving during the replay changes nothing, and worker processes need no Cassandra connection.
"""

from __future__ import annotations

from dataclasses import dataclass

from scorers.errors import RegistryError
from scorers.registry import ModelVersion, Registry
from scorers.replay.errors import ReplayError


@dataclass(frozen=True)
class ModelRef:
    name: str
    ref: str  # a version number or an alias

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        name, sep, ref = text.strip().partition("@")
        if not sep or not name or not ref:
            raise ReplayError(f"--model {text!r} must be NAME@VERSION (e.g. fraud@3) or NAME@ALIAS (fraud@champion)")
        return cls(name, ref)

    def __str__(self) -> str:
        return f"{self.name}@{self.ref}"


@dataclass(frozen=True)
class PinnedVersions:
    """Registry metadata and artifact bytes of the versions of one replay (picklable, for worker processes)."""

    versions: tuple[tuple[ModelVersion, bytes], ...]

    @classmethod
    def resolve(cls, registry: Registry, refs: list[ModelRef]) -> PinnedVersions:
        pinned: list[tuple[ModelVersion, bytes]] = []
        for ref in refs:
            version = registry.resolve(ref.name, ref.ref)
            if any(v.model == version.model and v.version == version.version for v, _ in pinned):
                raise ReplayError(f"--model {ref} names {version.model}@{version.version} twice")
            pinned.append((version, registry.artifact(version)))
        return cls(tuple(pinned))

    @property
    def keys(self) -> list[tuple[str, int]]:
        return [(v.model, v.version) for v, _ in self.versions]

    def get(self, name: str, version: int) -> ModelVersion:
        return self._find(name, version)[0]

    def artifact(self, version: ModelVersion) -> bytes:
        return self._find(version.model, version.version)[1]

    def aliases(self, name: str) -> dict[str, tuple[int, ...]]:
        return {}  # a replay never follows aliases

    def _find(self, name: str, version: int) -> tuple[ModelVersion, bytes]:
        for meta, data in self.versions:
            if (meta.model, meta.version) == (name, version):
                return meta, data
        raise RegistryError(f"unknown version {name}@{version}")
