"""Content-addressed model artifact stores: bytes in, a URI out; the URI names the sha256 of the bytes.

Only ``file://`` (a local or mounted folder) is implemented. Another scheme is one class with ``put`` and
``get`` registered in ``STORES``; until then a URI of another scheme (``s3://`` ...) is refused clearly.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlparse

from scorecast.settings import Settings
from scorers.errors import ArtifactError


class ArtifactStore(Protocol):
    """Where model files live. ``put`` is idempotent: the same bytes always give the same URI."""

    def put(self, data: bytes) -> str: ...
    def get(self, uri: str) -> bytes: ...


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class LocalArtifactStore:
    """Artifacts as ``<root>/<sha[:2]>/<sha>.onnx``; written to a temporary file, then renamed into place."""

    def __init__(self, root: Path) -> None:
        self.root = root.expanduser().resolve()

    def path_of(self, sha256: str) -> Path:
        return self.root / sha256[:2] / f"{sha256}.onnx"

    def put(self, data: bytes) -> str:
        path = self.path_of(sha256_hex(data))
        if not path.exists():
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                # A rename is atomic: a reader sees the whole file or none, even with concurrent registrations.
                with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as handle:
                    handle.write(data)
                os.replace(handle.name, path)
            except OSError as error:
                raise ArtifactError(f"cannot write artifact to {path.parent}: {error.strerror}") from error
        return path.as_uri()

    def get(self, uri: str) -> bytes:
        path = file_path(uri)
        try:
            return path.read_bytes()
        except OSError as error:
            raise ArtifactError(f"cannot read artifact {uri}: {error.strerror}") from error


def file_path(uri: str) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        raise ArtifactError(f"not a file:// URI: {uri}")
    return Path(unquote(parsed.path))


def _local(location: str) -> ArtifactStore:
    return LocalArtifactStore(file_path(location) if "://" in location else Path(location))


# scheme -> factory taking the store location (a folder or a URI of that scheme)
STORES: dict[str, Callable[[str], ArtifactStore]] = {"file": _local}


def _factory(location: str) -> Callable[[str], ArtifactStore]:
    scheme = urlparse(location).scheme if "://" in location else "file"
    if scheme not in STORES:
        raise ArtifactError(f"artifact scheme {scheme}:// is not supported (implemented: {', '.join(STORES)}://)")
    return STORES[scheme]


def open_store(settings: Settings) -> ArtifactStore:
    """The store named by ``settings.model_store`` (a folder or a URI); default ``<infra_dir>/models``."""
    location = settings.model_store or str(settings.infra_dir / "models")
    return _factory(location)(location)


def fetch(uri: str) -> bytes:
    """The bytes behind an artifact URI, whatever store wrote it."""
    return _factory(uri)(uri).get(uri)
