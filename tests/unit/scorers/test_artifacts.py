"""The local artifact store: content-addressed, idempotent, atomic; other schemes refused clearly."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from scorecast.settings import Settings
from scorers.artifacts import LocalArtifactStore, fetch, open_store
from scorers.errors import ArtifactError


def test_put_is_content_addressed_and_idempotent(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    data = b"model bytes"
    digest = hashlib.sha256(data).hexdigest()
    uri = store.put(data)
    assert uri == (tmp_path / digest[:2] / f"{digest}.onnx").resolve().as_uri()
    assert store.put(data) == uri
    assert store.get(uri) == data
    assert fetch(uri) == data
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [f"{digest}.onnx"]


def test_open_store_default_folder_and_uri(tmp_path: Path) -> None:
    default = open_store(Settings(infra_dir=tmp_path))
    assert isinstance(default, LocalArtifactStore)
    assert default.root == (tmp_path / "models").resolve()
    by_uri = open_store(Settings(model_store=(tmp_path / "elsewhere").as_uri()))
    assert isinstance(by_uri, LocalArtifactStore)
    assert by_uri.root == (tmp_path / "elsewhere").resolve()


def test_unsupported_scheme_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=r"s3:// is not supported \(implemented: file://\)"):
        open_store(Settings(model_store="s3://bucket/models"))
    with pytest.raises(ArtifactError, match="s3:// is not supported"):
        fetch("s3://bucket/ab.onnx")
    with pytest.raises(ArtifactError, match="cannot read artifact"):
        fetch((tmp_path / "missing.onnx").as_uri())
