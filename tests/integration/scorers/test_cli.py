"""`scorecast models ...` as a user runs it (a subprocess), against real Cassandra."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from scorecast.settings import Settings
from scorers.registry import Registry
from tests.unit.scorers import onnx_builders as build


def scorecast(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SCORECAST_KEYSPACE": settings.keyspace,
        "SCORECAST_TOPIC_PREFIX": settings.topic_prefix,
        "SCORECAST_CASSANDRA_HOSTS": ",".join(settings.cassandra_hosts),
        "SCORECAST_CASSANDRA_PORT": str(settings.cassandra_port),
        "SCORECAST_MODEL_STORE": settings.model_store,
        "COLUMNS": "200",
    }
    command = [sys.executable, "-c", "from scorecast.app.cli import main; main()", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_corrupt_file_is_refused_with_one_line_and_nothing_registered(
    model_settings: Settings, registry: Registry, tmp_path: Path
) -> None:
    good = tmp_path / "good.onnx"
    good.write_bytes(build.logistic())
    assert scorecast(model_settings, "models", "register", str(good), "--name", "fraud").returncode == 0
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(build.logistic()[:-25])
    for path, extra in ((corrupt, []), (good, ["--sha256", "0" * 64]), (tmp_path / "missing.onnx", [])):
        result = scorecast(model_settings, "models", "register", str(path), "--name", "fraud", *extra)
        assert result.returncode == 1
        assert result.stderr.count("\n") == 1
        assert result.stderr.startswith("error: ")
        assert "Traceback" not in result.stderr
    assert [v.version for v in registry.versions("fraud")] == [1]
    assert registry.aliases("fraud") == {}


def test_train_example_then_promote_rollback_history(model_settings: Settings, registry: Registry) -> None:
    trained = scorecast(model_settings, "models", "train-example", "--seed", "3", "--n", "6000")
    assert trained.returncode == 0, trained.stderr
    for kind in ("lightgbm", "mlp", "logistic"):
        assert kind in trained.stdout
    assert registry.aliases("fraud") == {"champion": (1,), "challenger": (2, 3)}
    champion = registry.get("fraud", 1)
    assert champion.metrics["kind"] == "lightgbm"
    assert champion.reference_profile is not None
    assert champion.reference_profile.n_rows == 6000

    listing = scorecast(model_settings, "models", "list")
    assert listing.returncode == 0
    assert "champion" in listing.stdout
    assert "challenger" in listing.stdout
    shown = scorecast(model_settings, "models", "show", "fraud@champion")
    assert champion.sha256 in shown.stdout
    assert "placement" in shown.stdout  # where its nodes run on this machine: all on the CPU here
    assert "CPUExecutionProvider" in shown.stdout

    assert scorecast(model_settings, "models", "promote", "fraud", "2", "--reason", "mlp wins").returncode == 0
    assert registry.aliases("fraud") == {"champion": (2,), "challenger": (3,)}
    back = scorecast(model_settings, "models", "rollback", "fraud")
    assert back.returncode == 0
    assert "champion v2 → v1" in back.stdout
    assert registry.aliases("fraud")["champion"] == (1,)
    history = scorecast(model_settings, "models", "history", "fraud")
    assert "rollback" in history.stdout
    assert "mlp wins" in history.stdout

    again = scorecast(model_settings, "models", "rollback", "fraud")
    assert (again.returncode, again.stderr.strip()) == (
        1,
        "error: no previous champion to roll back to (v1 is the first)",
    )
    unknown = scorecast(model_settings, "models", "alias", "set", "fraud", "champion", "42")
    assert (unknown.returncode, unknown.stderr.strip()) == (1, "error: unknown version fraud@42")


def test_register_with_reference_and_metrics(model_settings: Settings, registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(build.logistic())
    reference = tmp_path / "train.npy"
    np.save(reference, np.abs(np.random.default_rng(0).normal(size=(300, 16))).astype(np.float32))
    result = scorecast(
        model_settings, "models", "register", str(path), "--name", "risk", "--description", "hand-built",
        "--metrics", '{"auc": 0.7}', "--reference", str(reference),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    version = registry.get("risk", 1)
    assert (version.description, version.metrics) == ("hand-built", {"auc": 0.7})
    assert version.reference_profile is not None
    assert version.reference_profile.n_rows == 300
    assert version.reference_profile.score is not None
    bad = scorecast(model_settings, "models", "register", str(path), "--name", "risk", "--metrics", "{auc")
    assert (bad.returncode, bad.stderr.count("\n")) == (1, 1)
    assert "--metrics is not valid JSON" in bad.stderr
