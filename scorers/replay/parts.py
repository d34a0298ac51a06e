"""Result parts of a sharded replay at ``--results URL``: a local folder or an object-store prefix (``s3://``,
``gs://``, ``hdfs://``: whatever ``pyarrow.fs.FileSystem.from_uri`` opens).

Shard I of N writes ``part-I-of-N.parquet``: its scored events in (partition, offset) order with their
features, one score column per version and the joined label, and in the file's own key-value metadata a
record of what it holds (the request, the resolved range and label window, the versions with their
checksums, the offsets it covers, its row and reject counts). Its rejected events, if any, go to
``part-I-of-N.rejects.parquet``, written first: the part is the commit. A rerun of a shard overwrites its
own files and nobody else's. On a local folder a part is written beside and renamed over its name, so a
reader never sees half of one; an object store's PUT makes an object visible whole.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs

from scorers.replay.errors import ReplayError
from scorers.replay.ranges import PartitionRange, ReplayRange
from scorers.replay.shards import Shard

FORMAT = 1
META_KEY = b"scorecast.replay.part"
PART_NAME = re.compile(r"part-(\d+)-of-(\d+)\.parquet")


@dataclass(frozen=True)
class PartRecord:
    """What one shard's part holds; the merge checks that the parts agree and tile the range."""

    shard: Shard
    request: dict[str, Any]  # the request key (stream, --from, --to, models as typed, horizon)
    range: ReplayRange  # the whole range, as this shard resolved it
    labels: tuple[PartitionRange, ...] | None  # the label window this shard read
    models: tuple[tuple[str, int, str], ...]  # (name, version, sha256)
    feature_names: tuple[str, ...]
    covered: tuple[PartitionRange, ...]  # the offsets this shard read
    rows: int
    rejects: dict[str, int]  # reason -> rejected events
    unreadable_labels: int
    seconds: float  # wall time of the shard's replay

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "shard": [self.shard.index, self.shard.count],
            "request": self.request,
            "range": self.range.to_json(),
            "labels": None if self.labels is None else [[r.partition, r.start, r.end] for r in self.labels],
            "models": [list(m) for m in self.models],
            "feature_names": list(self.feature_names),
            "covered": [[r.partition, r.start, r.end] for r in self.covered],
            "rows": self.rows,
            "rejects": self.rejects,
            "unreadable_labels": self.unreadable_labels,
            "seconds": self.seconds,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PartRecord:
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')}, expected {FORMAT}")
        labels = data["labels"]
        return cls(
            shard=Shard(int(data["shard"][0]), int(data["shard"][1])),
            request=data["request"],
            range=ReplayRange.from_json(data["range"]),
            labels=None if labels is None else tuple(PartitionRange(*r) for r in labels),
            models=tuple((m[0], int(m[1]), m[2]) for m in data["models"]),
            feature_names=tuple(data["feature_names"]),
            covered=tuple(PartitionRange(*r) for r in data["covered"]),
            rows=int(data["rows"]),
            rejects={str(k): int(v) for k, v in data["rejects"].items()},
            unreadable_labels=int(data["unreadable_labels"]),
            seconds=float(data["seconds"]),
        )


def part_name(shard: Shard) -> str:
    return f"part-{shard.index}-of-{shard.count}.parquet"


def rejects_name(shard: Shard) -> str:
    return f"part-{shard.index}-of-{shard.count}.rejects.parquet"


class ResultStore:
    """The folder or prefix of one sharded replay's parts."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            if "://" in url:
                self.fs, self.root = fs.FileSystem.from_uri(url)
            else:  # a plain path: from_uri wants it absolute
                self.fs, self.root = fs.LocalFileSystem(), str(Path(url).absolute())
        except (ValueError, OSError) as error:
            raise ReplayError(f"--results {url!r} cannot be opened ({' '.join(str(error).split())})") from error
        self.root = self.root.rstrip("/")
        self.local = isinstance(self.fs, fs.LocalFileSystem)

    def where(self, name: str) -> str:
        return f"{self.url.rstrip('/')}/{name}"

    def write(self, record: PartRecord, events: pa.Table, rejects: pa.Table | None) -> str:
        """Rejects first, the part last (the part is what the merge counts); returns the part's URL."""
        self._make_root()
        if rejects is not None and rejects.num_rows:
            self._write_table(rejects_name(record.shard), rejects)
        else:
            self._delete(rejects_name(record.shard))  # a previous run's, which this one replaces
        metadata = {**(events.schema.metadata or {}), META_KEY: json.dumps(record.to_json()).encode()}
        self._write_table(part_name(record.shard), events.replace_schema_metadata(metadata))
        return self.where(part_name(record.shard))

    def names(self) -> list[str]:
        """Names of the parts here (not their rejects), in name order."""
        try:
            infos = self.fs.get_file_info(fs.FileSelector(self.root, allow_not_found=True))
        except OSError as error:
            raise ReplayError(f"cannot list --results {self.url} ({' '.join(str(error).split())})") from error
        return sorted(i.base_name for i in infos if i.type == fs.FileType.File and PART_NAME.fullmatch(i.base_name))

    def record(self, name: str) -> PartRecord:
        """The part's record, from its footer only (no row is read)."""
        try:
            metadata = pq.read_schema(f"{self.root}/{name}", filesystem=self.fs).metadata or {}
            return PartRecord.from_json(json.loads(metadata[META_KEY]))
        except (OSError, ValueError, KeyError, TypeError, IndexError) as error:
            raise ReplayError(
                f"{self.where(name)} is not a readable replay part ({' '.join(str(error).split())}); rerun its shard"
            ) from error

    def read(self, name: str) -> pa.Table:
        return pq.read_table(f"{self.root}/{name}", filesystem=self.fs).replace_schema_metadata(None)

    def exists(self, name: str) -> bool:
        return bool(self.fs.get_file_info(f"{self.root}/{name}").type == fs.FileType.File)

    def _make_root(self) -> None:
        if not self.local:
            return  # an object store has no folders: a key's prefix needs no creating (nor bucket rights)
        try:
            self.fs.create_dir(self.root, recursive=True)
        except OSError as error:
            raise ReplayError(f"cannot write to --results {self.url} ({' '.join(str(error).split())})") from error

    def _write_table(self, name: str, table: pa.Table) -> None:
        path = f"{self.root}/{name}"
        # Dictionaries only where values repeat: unique event ids as a dictionary cost more than they save.
        repeated = [c for c in ("entity_id", "reason") if c in table.column_names]
        target = f"{path}.tmp" if self.local else path
        try:
            pq.write_table(table, target, filesystem=self.fs, compression="snappy", use_dictionary=repeated)
            if self.local:
                self.fs.move(target, path)  # a rename: atomic on one local file system
        except OSError as error:
            raise ReplayError(f"cannot write {self.where(name)} ({' '.join(str(error).split())})") from error

    def _delete(self, name: str) -> None:
        if self.exists(name):
            self.fs.delete_file(f"{self.root}/{name}")
