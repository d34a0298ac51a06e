"""The registry against real Cassandra: versions, metadata, aliases, promotion, rollback, history, refusals."""

from __future__ import annotations

import getpass
import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from schemas.features import FeatureSpec
from scorecast.errors import ScorecastError
from scorers.artifacts import file_path
from scorers.errors import ModelVerificationError, RegistryError
from scorers.profile import reference_profile
from scorers.registry import Registry
from scorers.runtime import probe_batch
from tests.unit.scorers import onnx_builders as build

STREAM = "transactions"  # the stream whose feature spec the test models take


def model(scale: float) -> bytes:
    return build.logistic(np.full((16, 1), scale, dtype=np.float32))


def state(registry: Registry, name: str, store: Path) -> dict[str, Any]:
    """Everything a refused request must leave as it was."""
    files = sorted(str(p) for p in store.rglob("*")) if store.exists() else []
    versions = [(v.version, v.sha256) for v in registry.versions(name)]
    history = [(c.alias, c.version, c.previous, c.action) for c in registry.history(name)]
    return {"versions": versions, "aliases": registry.aliases(name), "history": history, "files": files}


def test_register_list_alias_promote_rollback_history(registry: Registry, spec: FeatureSpec) -> None:
    x = probe_batch(spec, rows=500)
    profile = reference_profile(spec, x, np.linspace(0, 1, 500))
    first = registry.register(
        "fraud", model(0.01), description="v1", metrics={"auc": 0.81}, reference=profile, stream=STREAM
    )
    assert (first.model, first.version, first.description, first.metrics) == ("fraud", 1, "v1", {"auc": 0.81})
    assert first.sha256 == hashlib.sha256(model(0.01)).hexdigest()
    assert file_path(first.artifact_uri).read_bytes() == model(0.01)
    assert first.feature_spec == spec
    assert (first.output_spec.output_name, first.output_spec.column) == ("score", 0)
    assert first.reference_profile == profile
    assert first.created_by == getpass.getuser()
    for scale in (0.02, 0.03):
        registry.register("fraud", model(scale), stream=STREAM)
    assert [v.version for v in registry.versions("fraud")] == [3, 2, 1]
    assert registry.models() == ["fraud"]
    assert registry.resolve("fraud").version == 3

    registry.promote("fraud", 1, reason="first")
    registry.set_alias("fraud", "challenger", 2)
    registry.set_alias("fraud", "challenger", 3)
    assert registry.aliases("fraud") == {"champion": (1,), "challenger": (2, 3)}
    assert registry.resolve("fraud", "champion").version == 1

    registry.promote("fraud", 3, reason="better auc", actor="ana")
    assert registry.aliases("fraud") == {"champion": (3,), "challenger": (2,)}
    registry.rollback("fraud", reason="alerts")
    assert registry.aliases("fraud") == {"champion": (1,), "challenger": (2,)}
    with pytest.raises(RegistryError, match="no previous champion"):
        registry.rollback("fraud")

    history = [(c.alias, c.version, c.previous, c.action, c.reason) for c in registry.history("fraud")]
    assert history == [
        ("champion", 1, 3, "rollback", "alerts"),
        ("challenger", None, 3, "unset", "promote of v3"),
        ("champion", 3, 1, "promote", "better auc"),
        ("challenger", 3, None, "set", ""),
        ("challenger", 2, None, "set", ""),
        ("champion", 1, None, "promote", "first"),
    ]
    changes = registry.history("fraud")
    assert changes[2].actor == "ana"
    times = [c.changed_at for c in changes if c.changed_at is not None]
    assert len(times) == len(changes)
    assert times == sorted(times, reverse=True)


def test_alias_flips_never_lose_to_tombstones(registry: Registry) -> None:
    # A delete and an insert of the same row in one batch, over and over: the insert must always win.
    for scale in (0.01, 0.02):
        registry.register("fraud", model(scale), stream=STREAM)
    for i in range(20):
        target = 1 + i % 2
        registry.promote("fraud", target)
        registry.set_alias("fraud", "canary", 3 - target)
        assert registry.aliases("fraud") == {"champion": (target,), "canary": (3 - target,)}
    registry.unset_alias("fraud", "canary")
    assert registry.aliases("fraud") == {"champion": (2,)}


def test_concurrent_registrations_get_distinct_versions(registry: Registry) -> None:
    with ThreadPoolExecutor(max_workers=6) as pool:
        versions = list(
            pool.map(lambda i: registry.register("fraud", model(0.001 * (i + 1)), stream=STREAM).version, range(6))
        )
    assert sorted(versions) == [1, 2, 3, 4, 5, 6]


def test_refusals_change_nothing(registry: Registry, model_settings: Any, tmp_path: Path) -> None:
    registry.register("fraud", model(0.01), stream=STREAM)
    registry.promote("fraud", 1)
    store = Path(model_settings.model_store)
    before = state(registry, "fraud", store)
    refusals: list[tuple[Any, type[ScorecastError], str]] = [
        (lambda: registry.register("fraud", b"\x08\x07corrupt onnx", stream=STREAM), ModelVerificationError,
         "not a loadable"),
        (lambda: registry.register("fraud", build.logistic(width=15), stream=STREAM), ModelVerificationError,
         "needs tensor"),
        (lambda: registry.register("fraud", model(0.02), expected_sha256="ab" * 32, stream=STREAM),
         ModelVerificationError, "checksum mismatch"),
        (lambda: registry.register("fraud", model(0.02), stream="nope"), RegistryError, "no events schema"),
        (lambda: registry.promote("fraud", 9), RegistryError, "unknown version fraud@9"),
        (lambda: registry.set_alias("fraud", "champoin", 1), RegistryError, "unknown alias"),
        (lambda: registry.set_alias("ghost", "champion", 1), RegistryError, "unknown model 'ghost'"),
        (lambda: registry.unset_alias("fraud", "canary"), RegistryError, "not set"),
        (lambda: registry.unset_alias("fraud", "champion"), RegistryError, "cannot be unset"),
        (lambda: registry.rollback("fraud"), RegistryError, "no previous champion"),
        (lambda: registry.rollback("ghost"), RegistryError, "unknown model"),
        (lambda: registry.resolve("fraud", "canary"), RegistryError, "not set"),
    ]  # fmt: skip
    for call, error, message in refusals:
        with pytest.raises(error, match=message):
            call()
        assert state(registry, "fraud", store) == before
