"""Stand-ins for the shadow path's outside world: champion lookups, progress, a writer, a clock."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from confluent_kafka import Message

from shadow.champion import ChampionScore
from shadow.results import JoinedRow


class FakeLookup:
    def __init__(self, log: list[str]) -> None:
        self.rows: dict[str, ChampionScore] = {}
        self.calls: list[list[str]] = []
        self._log = log

    def fetch(self, versions: Sequence[int], keys: Sequence[tuple[str, int, str]]) -> dict[str, ChampionScore]:
        self._log.append("lookup")
        self.calls.append([k[2] for k in keys])
        return {k[2]: self.rows[k[2]] for k in keys if k[2] in self.rows}


class FakeProgress:
    def __init__(self, log: list[str]) -> None:
        self.offsets: dict[int, int] = {}
        self._log = log

    def committed(self, partitions: Sequence[int]) -> dict[int, int]:
        self._log.append("progress")
        return {p: self.offsets.get(p, -1) for p in partitions}


class FakeWriter:
    def __init__(self) -> None:
        self.rows: list[JoinedRow] = []

    def write(self, model: str, rows: list[JoinedRow], joined_at_ms: int) -> None:
        assert model == "fraud"
        self.rows += rows


class FakeDeadLetters:
    def __init__(self) -> None:
        self.failed: list[str] = []
        self.sent: list[tuple[Message, Any]] = []
        self.flushes = 0

    def send_failures(self, messages: Sequence[Message], failures: Sequence[Any]) -> list[Any]:
        self.sent += [(messages[f.position], f) for f in failures]
        return []

    def flush(self, timeout: float = 30.0) -> None:
        self.flushes += 1


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
