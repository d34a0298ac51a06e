"""A schema store of the test's own (a copy of the repository's schemas) so evolution can be tried safely."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from schemas.features import AVRO_DIR
from schemas.registry import LocalSchemaStore


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    shutil.copytree(AVRO_DIR, tmp_path / "avro")
    return tmp_path / "avro"


@pytest.fixture
def store(store_dir: Path) -> LocalSchemaStore:
    return LocalSchemaStore(store_dir / "registry.json", store_dir)
