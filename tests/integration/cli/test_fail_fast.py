"""Every CLI command, run as a user runs it, against services it cannot reach: a non-zero exit within the time
bound, at most three lines, naming what was unreachable and the setting to check.

Most rows need no service: every endpoint points somewhere nothing listens (or cannot be resolved), so they
touch no real cluster. The base environment makes all of them unreachable; each row then names the one whose
message is expected (the service the command contacts first). The kinds in ``ON_REAL_SERVICES`` start from the
real services instead (a test's own topics), where what is wrong is one setting: a keyspace that does not
exist, or Cassandra unreachable while Kafka answers.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from scorecast.settings import Settings

ONE_SHOT_S = 10.0  # the bound for one-shot commands
WORKER_START_S = 30.0  # a worker that starts with nothing reachable

UNREACHABLE = {
    "SCORECAST_KAFKA_BOOTSTRAP": "127.0.0.1:1",
    "SCORECAST_CASSANDRA_HOSTS": "127.0.0.1",
    "SCORECAST_CASSANDRA_PORT": "1",
    "SCORECAST_INFRA_BACKEND": "external",
}
KINDS: dict[str, tuple[dict[str, str], str]] = {
    # kind: (environment over UNREACHABLE, what the one line must say)
    "kafka refused": ({}, r"Kafka at 127\.0\.0\.1:1 unreachable.*SCORECAST_KAFKA_BOOTSTRAP"),
    "kafka unresolvable": (
        {"SCORECAST_KAFKA_BOOTSTRAP": "nonexistent.invalid:9092"},
        r"Kafka at nonexistent\.invalid:9092 unreachable.*SCORECAST_KAFKA_BOOTSTRAP",
    ),
    "cassandra refused": ({}, r"Cassandra at 127\.0\.0\.1:1 unreachable.*SCORECAST_CASSANDRA_HOSTS"),
    "cassandra unresolvable": (
        {"SCORECAST_CASSANDRA_HOSTS": "nonexistent.invalid"},
        r"Cassandra at nonexistent\.invalid:1 unreachable.*SCORECAST_CASSANDRA_HOSTS",
    ),
    "registry down": (
        {"SCORECAST_SCHEMA_REGISTRY_URL": "http://127.0.0.1:1"},
        r"[Ss]chema registry at http://127\.0\.0\.1:1 unreachable.*SCORECAST_SCHEMA_REGISTRY_URL",
    ),
    "bad settings": ({"SCORECAST_INFRA_BACKEND": "bogus"}, r"SCORECAST_INFRA_BACKEND"),
    "kafka refused (worker waits 2 s)": (
        {"SCORECAST_KAFKA_START_TIMEOUT_S": "2"},
        r"Kafka at 127\.0\.0\.1:1 unreachable.*SCORECAST_KAFKA_BOOTSTRAP",
    ),
    "keyspace missing": (
        {"SCORECAST_KEYSPACE": "scorecast_no_such_keyspace"},
        r"keyspace scorecast_no_such_keyspace does not exist in Cassandra at .*SCORECAST_KEYSPACE",
    ),
    "cassandra refused, kafka up": (
        {"SCORECAST_CASSANDRA_HOSTS": "127.0.0.1", "SCORECAST_CASSANDRA_PORT": "1"},
        r"Cassandra at 127\.0\.0\.1:1 unreachable.*SCORECAST_CASSANDRA_HOSTS",
    ),
}
ON_REAL_SERVICES = frozenset({"keyspace missing", "cassandra refused, kafka up"})


@dataclass(frozen=True)
class Row:
    args: tuple[str, ...]
    kind: str
    bound_s: float = ONE_SHOT_S

    @property
    def id(self) -> str:
        return f"{' '.join(self.args[:2])} / {self.kind}"


_REPLAY = ("replay", "--stream", "transactions", "--from", "earliest", "--to", "latest", "--model", "fraud@1")
COMMANDS: dict[tuple[str, ...], tuple[str, ...]] = {
    # command: the failure kinds it meets first, given UNREACHABLE
    ("produce", "--stream", "transactions", "--synthetic", "5"): ("kafka refused", "kafka unresolvable"),
    ("init",): ("kafka refused", "kafka unresolvable"),
    ("models", "list"): ("cassandra refused", "cassandra unresolvable"),
    _REPLAY: ("kafka refused", "kafka unresolvable"),
    ("shadow", "report", "--model", "fraud"): ("kafka refused",),
    ("signals", "show", "--model", "fraud"): ("cassandra refused",),
    ("rollout", "status", "fraud"): ("cassandra refused",),
    ("api-keys", "list"): ("cassandra refused", "cassandra unresolvable"),
    ("schemas", "check"): (),  # no service; settings are still checked first
}
ROWS = [
    *(Row(args, kind) for args, kinds in COMMANDS.items() for kind in (*kinds, "bad settings")),
    # the registry is reached before Kafka when a producer needs its schema id
    Row(("produce", "--stream", "transactions", "--synthetic", "5"), "registry down"),
    # a worker waits a little for a cluster that may still be starting (15 s by default), then exits
    Row(("worker", "score", "--stream", "transactions"), "kafka refused", WORKER_START_S),
    *(
        Row(("worker", kind, "--stream", "transactions"), "kafka refused (worker waits 2 s)", WORKER_START_S)
        for kind in ("shadow-tee", "shadow-join", "drift", "promotion")
    ),
    Row(("worker", "rollout", "--model", "fraud"), "kafka refused (worker waits 2 s)", WORKER_START_S),
    Row(("worker", "score", "--stream", "transactions"), "bad settings", WORKER_START_S),
    # the Cassandra driver logs a traceback per failed connection: a worker's logging must not show it
    Row(("worker", "score", "--stream", "transactions"), "keyspace missing", WORKER_START_S),
    Row(("worker", "score", "--stream", "transactions"), "cassandra refused, kafka up", WORKER_START_S),
    Row(("models", "list"), "keyspace missing"),
]


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.id)
def test_an_unreachable_service_is_one_line_and_a_non_zero_exit(
    row: Row, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    extra, expected = KINDS[row.kind]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCORECAST_")}
    if row.kind in ON_REAL_SERVICES:
        settings: Settings = request.getfixturevalue("settings")  # only these rows start the real services
        env |= settings.environment() | extra
    else:
        env |= UNREACHABLE | extra | {"SCORECAST_INFRA_DIR": str(tmp_path / "infra")}
    command = [sys.executable, "-c", "from scorecast.app.cli import main; main()", *row.args]
    started = time.monotonic()
    try:
        done = subprocess.run(
            command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=row.bound_s * 3, check=False
        )
    except subprocess.TimeoutExpired as error:
        lines = (error.stderr or b"").decode(errors="replace").splitlines()
        pytest.fail(f"still running after {row.bound_s * 3:.0f}s; {len(lines)} lines on stderr")
    elapsed = time.monotonic() - started
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    shown = "\n".join(lines[:5])
    assert done.returncode != 0, shown
    assert elapsed <= row.bound_s, f"{elapsed:.1f}s\n{shown}"
    assert 1 <= len(lines) <= 3, f"{len(lines)} lines:\n{shown}"
    assert any(re.search(expected, line) for line in lines), shown
