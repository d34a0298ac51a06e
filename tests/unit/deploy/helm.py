"""Render the Helm chart with the `helm` binary: $HELM, else the one `make deploy-check` builds, else PATH."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # PyYAML comes with uvicorn[standard]

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "infra" / "helm" / "scorecast"
BUILT = ROOT / ".scorecast" / "tools" / "bin" / "helm"
KUBE_VERSION = "1.30.0"  # explicit: a helm built by `go install` carries no default of its own (it says 1.20)


def helm_binary() -> str | None:
    if os.environ.get("HELM"):
        return os.environ["HELM"]
    if BUILT.exists():
        return str(BUILT)
    return shutil.which("helm")


def render(helm: str, *set_values: str, values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The chart's manifests for release `prod`, with --set values and/or a values document."""
    command = [helm, "template", "prod", str(CHART), "--namespace", "scoring", "--kube-version", KUBE_VERSION]
    for value in set_values:
        command += ["--set", value]
    if values is not None:
        command += ["--values", "-"]
    result = subprocess.run(
        command,
        check=False,
        input=yaml.safe_dump(values) if values else None,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        raise AssertionError(f"helm template failed: {result.stderr.strip()}")
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def of_kind(manifests: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}
