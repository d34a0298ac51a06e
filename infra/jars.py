"""Resolve the Kafka and Cassandra server classpaths from Maven Central, once, into a git-ignored cache."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from infra.errors import InfraError

INFRA_ROOT = Path(__file__).resolve().parent


def pom_path(service: str) -> Path:
    return INFRA_ROOT / service / "pom.xml"


def resolve(service: str, cache_dir: Path) -> Path:
    """Return a folder holding every runtime jar of ``service``; runs Maven only when the pom changed."""
    pom = pom_path(service)
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()[:16]
    target = cache_dir / f"{service}-{digest}"
    marker = target / ".complete"
    if marker.exists():
        return target
    mvn = shutil.which("mvn")
    if mvn is None:
        raise InfraError("Maven (mvn) is not on PATH: it is needed once to fetch the Kafka and Cassandra jars")
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    command = [
        mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
        "-DincludeScope=runtime", f"-DoutputDirectory={partial}",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-5:]
        raise InfraError(f"Maven could not resolve the {service} jars: {' | '.join(tail)}")
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    marker.touch()
    return target
