"""The checkpoint of a replay: a folder next to the results holding its manifest and immutable parts.

``<results>.checkpoint/manifest.json`` pins what the replay reads and scores (the request as typed, the
resolved offsets, the label window, the versions and their checksums). Every scan process appends parts: a
part is an Arrow IPC file of scored events (plus one of rejects, if any; uncompressed: written and read back
at memory speed) and a JSON file written last, by an atomic rename, that names the offsets ``[start, next)``
per partition the part covers. A part without its JSON
is not committed; a rerun of the same command deletes it and re-reads from the committed offsets, so an
interruption at any instant (Ctrl-C, kill -9, a lost machine) neither loses nor duplicates an event.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyarrow import feather

from scorers.replay.errors import ReplayError
from scorers.replay.ranges import PartitionRange, ReplayRange

FORMAT = 1


@dataclass(frozen=True)
class Manifest:
    request: dict[str, Any]  # the command as given: a rerun continues only if it asks the same
    range: ReplayRange
    labels: tuple[PartitionRange, ...] | None  # None: the stream has no labels topic
    models: tuple[tuple[str, int, str], ...]  # (name, version, sha256)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "request": self.request,
            "range": self.range.to_json(),
            "labels": None if self.labels is None else [[r.partition, r.start, r.end] for r in self.labels],
            "models": [list(m) for m in self.models],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        labels = data["labels"]
        return cls(
            data["request"],
            ReplayRange.from_json(data["range"]),
            None if labels is None else tuple(PartitionRange(*r) for r in labels),
            tuple((m[0], int(m[1]), m[2]) for m in data["models"]),
        )


@dataclass(frozen=True)
class Part:
    name: str
    covered: dict[int, tuple[int, int]]  # partition -> [start, next)
    rows: int
    rejects: int


def _write_ipc(table: pa.Table, path: Path) -> None:
    feather.write_feather(table, path, compression="uncompressed")


def _write_atomic(path: Path, write: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    with tmp.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class Checkpoint:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @classmethod
    def for_results(cls, results: Path) -> Checkpoint:
        return cls(results.with_name(results.name + ".checkpoint"))

    # -- manifest ---------------------------------------------------------------------------------------------

    def manifest(self) -> Manifest | None:
        path = self.directory / "manifest.json"
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text())
            if data.get("format") != FORMAT:
                raise ValueError(f"format {data.get('format')}")
            return Manifest.from_json(data)
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ReplayError(
                f"unreadable checkpoint {path} ({error}); delete {self.directory} to start over"
            ) from error

    def start(self, manifest: Manifest) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        _write_atomic(self.directory / "manifest.json", lambda p: p.write_text(json.dumps(manifest.to_json())))

    # -- parts ------------------------------------------------------------------------------------------------

    def commit(self, events: pa.Table, rejects: pa.Table | None, covered: dict[int, tuple[int, int]]) -> None:
        name = f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"  # by name = by commit time
        _write_atomic(self.directory / f"{name}.arrow", lambda p: _write_ipc(events, p))
        if rejects is not None and rejects.num_rows:
            _write_atomic(self.directory / f"{name}.rejects.arrow", lambda p: _write_ipc(rejects, p))
        record = {
            "covered": {str(p): list(span) for p, span in covered.items()},
            "rows": events.num_rows,
            "rejects": 0 if rejects is None else rejects.num_rows,
        }
        _write_atomic(self.directory / f"{name}.json", lambda p: p.write_text(json.dumps(record)))

    def parts(self) -> list[Part]:
        """Committed parts in commit order (results do not depend on it: they are sorted by partition, offset)."""
        found = []
        for path in sorted(self.directory.glob("part-*.json")):
            data = json.loads(path.read_text())
            covered = {int(p): (int(s), int(n)) for p, (s, n) in data["covered"].items()}
            found.append(Part(path.stem, covered, int(data["rows"]), int(data["rejects"])))
        return found

    def discard_uncommitted(self) -> int:
        """Delete part files whose commit marker was never written (an interrupted write); how many."""
        committed = {p.name for p in self.parts()}
        removed = 0
        for path in self.directory.glob("part-*"):
            if path.name.split(".")[0] not in committed:
                path.unlink()
                removed += 1
        return removed

    def next_offsets(self, replay: ReplayRange) -> dict[int, int]:
        """Per partition, where reading continues; refuses parts that do not tile the range exactly."""
        spans: dict[int, list[tuple[int, int]]] = {r.partition: [] for r in replay.partitions}
        for part in self.parts():
            for p, span in part.covered.items():
                if p not in spans:
                    raise ReplayError(f"checkpoint part {part.name} covers partition {p}, outside the range")
                spans[p].append(span)
        offsets = {}
        for r in replay.partitions:
            at = r.start
            for start, end in sorted(spans[r.partition]):
                if start != at or end > r.end:
                    raise ReplayError(
                        f"checkpoint {self.directory} is inconsistent on partition {r.partition} "
                        f"(part covers {start}-{end}, expected to start at {at}); delete it to start over"
                    )
                at = end
            offsets[r.partition] = at
        return offsets

    def read(self, kind: str = "") -> pa.Table | None:
        """All committed parts' events (kind "") or rejects (kind "rejects") as one table; None if none."""
        suffix = f".{kind}.arrow" if kind else ".arrow"
        paths = [self.directory / f"{p.name}{suffix}" for p in self.parts()]
        tables = [feather.read_table(path) for path in paths if path.exists()]
        return pa.concat_tables(tables) if tables else None

    # -- labels -----------------------------------------------------------------------------------------------

    def save_labels(self, labels: pa.Table, unreadable: int) -> None:
        meta = {b"unreadable": str(unreadable).encode()}
        table = labels.replace_schema_metadata(meta)
        _write_atomic(self.directory / "labels.arrow", lambda p: _write_ipc(table, p))

    def labels(self) -> tuple[pa.Table, int] | None:
        path = self.directory / "labels.arrow"
        if not path.exists():
            return None
        table = feather.read_table(path)
        unreadable = int((table.schema.metadata or {}).get(b"unreadable", b"0"))
        return table.replace_schema_metadata(None), unreadable

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
