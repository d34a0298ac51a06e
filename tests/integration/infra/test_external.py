"""`scorecast infra ...` with SCORECAST_INFRA_BACKEND=external, run as an operator runs it.

The shared real services stand in for a reachable external cluster; ports where nothing listens and names
that do not resolve for unreachable ones. `status` and `up` probe (one line per service, exit 0 only when
all answer, within seconds), `down` stops nothing and says so, `logs` refuses. The shared services must
still answer afterwards: external means scorecast never stops what it did not start.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from scorecast.settings import Settings

BOUND_S = 10.0  # two concurrent probes of at most 5 s each, plus the interpreter's start
NOT_MANAGED = "external services are not managed by scorecast"


@dataclass(frozen=True)
class Row:
    args: tuple[str, ...]
    endpoints: dict[str, str] = field(default_factory=dict)  # over the shared services' endpoints
    code: int = 0
    states: dict[str, str] = field(default_factory=dict)  # service -> reachable | unreachable
    says: str = ""  # a pattern the output must contain


REFUSED = {"SCORECAST_KAFKA_BOOTSTRAP": "127.0.0.1:1", "SCORECAST_CASSANDRA_PORT": "1"}
UNRESOLVABLE = {"SCORECAST_KAFKA_BOOTSTRAP": "kafka.invalid:9092", "SCORECAST_CASSANDRA_HOSTS": "cassandra.invalid"}
BOTH = {"kafka": "reachable", "cassandra": "reachable"}
ROWS = {
    "status, both reachable": Row(("status",), states=BOTH),
    "status, kafka refused": Row(
        ("status",),
        {"SCORECAST_KAFKA_BOOTSTRAP": REFUSED["SCORECAST_KAFKA_BOOTSTRAP"]},
        1,
        {"kafka": "unreachable", "cassandra": "reachable"},
        r"Kafka at 127\.0\.0\.1:1 unreachable.*SCORECAST_KAFKA_BOOTSTRAP",
    ),
    "status, cassandra refused": Row(
        ("status",),
        {"SCORECAST_CASSANDRA_PORT": "1"},
        1,
        {"kafka": "reachable", "cassandra": "unreachable"},
        r"Cassandra at 127\.0\.0\.1:1 unreachable.*SCORECAST_CASSANDRA_PORT",
    ),
    "status, both unresolvable": Row(
        ("status",), UNRESOLVABLE, 1, {"kafka": "unreachable", "cassandra": "unreachable"}, r"kafka\.invalid"
    ),
    "up, reachable": Row(("up",), states=BOTH, says=NOT_MANAGED + r".*nothing to start"),
    "up, refused": Row(
        ("up",), REFUSED, 1, {"kafka": "unreachable", "cassandra": "unreachable"}, NOT_MANAGED + r".*nothing to start"
    ),
    "down": Row(("down",), says=NOT_MANAGED + r".*nothing stopped"),
    "down --purge, refused": Row(("down", "--purge"), REFUSED, says=NOT_MANAGED + r".*nothing stopped"),
    "logs": Row(("logs", "kafka"), code=1, says=NOT_MANAGED),
}


@pytest.mark.parametrize("row", ROWS.values(), ids=ROWS.keys())
def test_infra_commands_on_an_external_backend(row: Row, services: Settings, tmp_path: Path) -> None:
    result, elapsed = _run(row.args, _environment(services, row.endpoints), tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == row.code, output
    assert elapsed < BOUND_S, f"took {elapsed:.1f}s: {output}"
    assert _states(result.stdout) == row.states, output
    assert re.search(row.says, output, re.S), output
    assert len(output.strip().splitlines()) <= 1 + len(row.states), output
    assert "Traceback" not in output
    assert not (tmp_path / "infra").exists(), "an external backend must not create local service folders"
    # what scorecast did not start, it never stops
    after, _ = _run(("status",), _environment(services, {}), tmp_path)
    assert after.returncode == 0, after.stdout + after.stderr


def test_secrets_never_appear_in_probe_lines(services: Settings, tmp_path: Path) -> None:
    secrets = {
        "SCORECAST_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "SCORECAST_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "SCORECAST_KAFKA_USERNAME": "scorer",
        "SCORECAST_KAFKA_PASSWORD": "kafka-secret-77",
        "SCORECAST_CASSANDRA_USERNAME": "scorer",
        "SCORECAST_CASSANDRA_PASSWORD": "cassandra-secret-88",
    }
    for endpoints in ({}, REFUSED):  # an answer that refuses the credentials, and no answer at all
        result, _ = _run(("status",), {**_environment(services, endpoints), **secrets}, tmp_path)
        output = result.stdout + result.stderr
        assert result.returncode == 1, output  # the shared Kafka speaks PLAINTEXT, not SASL
        assert "kafka-secret-77" not in output, output
        assert "cassandra-secret-88" not in output, output


def _states(stdout: str) -> dict[str, str]:
    """The probe lines' "<service> <state> ..." as {service: state}."""
    words = [line.split() for line in stdout.splitlines()]
    return {w[0]: w[1] for w in words if len(w) > 1 and w[0] in ("kafka", "cassandra")}


def _environment(services: Settings, endpoints: dict[str, str]) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("SCORECAST_")}
    return {
        **inherited,
        "SCORECAST_INFRA_BACKEND": "external",
        "SCORECAST_KAFKA_BOOTSTRAP": services.kafka_bootstrap,
        "SCORECAST_CASSANDRA_HOSTS": ",".join(services.cassandra_hosts),
        "SCORECAST_CASSANDRA_PORT": str(services.cassandra_port),
        **endpoints,
    }


def _run(args: tuple[str, ...], env: dict[str, str], cwd: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", "from scorecast.app.cli import main; main()", "infra", *args],
        env={**env, "SCORECAST_INFRA_DIR": str(cwd / "infra")},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result, time.monotonic() - started
