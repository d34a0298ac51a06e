"""The scorer's decode path: a list of Kafka message values to envelope columns and one float32 feature matrix.

Errors are values: every record that cannot be scored (no Confluent header, unknown schema id, a writer
schema that cannot resolve to the current one, undecodable bytes, an unknown enum symbol, a missing, wrongly
typed, NaN or infinite feature) comes back as a ``DecodeFailure`` with its position, so the caller can send it
to the dead-letter topic and score the rest. Flat schemas decode vectorised (schemas.columnar); others
through fastavro record by record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fastavro.read import SchemaResolutionError

from schemas import columnar
from schemas.codec import HEADER, MAGIC, AvroCodec, plain
from schemas.compat import resolution_problems
from schemas.errors import SchemaError, UnknownSchemaIdError
from schemas.features import FeatureSpec, encode
from schemas.registry import SchemaStore, expanded, schema_name


@dataclass(frozen=True)
class DecodeFailure:
    position: int  # index in the input list
    reason: str  # short code: bad-header, unknown-schema-id, incompatible-schema, undecodable, unknown-enum-symbol,
    #              missing-feature, invalid-feature, non-finite-feature
    detail: str


@dataclass(frozen=True)
class DecodedBatch:
    positions: np.ndarray  # int64 index in the input list of each decoded row, increasing
    event_ids: list[str]
    entity_ids: list[str]
    event_times: np.ndarray  # int64 epoch milliseconds
    features: np.ndarray  # float32 (rows, features), C-contiguous, feature-spec order
    failures: list[DecodeFailure] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.event_ids)


class EventBatchDecoder:
    """Decodes one stream's event values (any registered version) into the current feature spec."""

    def __init__(self, store: SchemaStore, stream: str, topic: str | None = None) -> None:
        self.codec = AvroCodec(store, topic or f"{stream}.events", schema_name(stream, "events"))
        self.spec = FeatureSpec.from_avro(stream, self.codec.raw_schema)
        self._reader = expanded(self.codec.reader_schema)
        self._plans: dict[int, columnar.Plan | str | None] = {}  # None: fastavro path; str: why not readable

    def _plan(self, schema_id: int) -> columnar.Plan | str | None:
        if schema_id not in self._plans:
            try:
                writer = expanded(plain(self.codec.store.by_id(schema_id)))
            except UnknownSchemaIdError:
                self._plans[schema_id] = f"unknown-schema-id: {schema_id}"
                return self._plans[schema_id]
            problems = resolution_problems(writer, self._reader)
            if not columnar.is_flat(writer):
                # fastavro resolves record by record: a union writer may resolve for some values only.
                self._plans[schema_id] = None
            elif problems:
                self._plans[schema_id] = f"incompatible-schema: id {schema_id}: {'; '.join(problems)}"
            else:
                self._plans[schema_id] = columnar.plan(writer, self._reader, self.spec)
        return self._plans[schema_id]

    def decode(self, values: Sequence[bytes | None]) -> DecodedBatch:
        n = len(values)
        blobs = [v or b"" for v in values]
        lengths = np.array(list(map(len, blobs)), dtype=np.int64)
        ends = np.cumsum(lengths)
        starts = ends - lengths
        raw = b"".join(blobs)
        buf = np.frombuffer(raw + bytes(columnar.PAD), dtype=np.uint8)
        header_ok = (lengths >= HEADER.size) & (buf[np.minimum(starts, len(raw))] == MAGIC)
        ids = np.zeros(n, dtype=np.int64)
        for k in range(1, 5):
            ids = (ids << 8) | buf[starts + k].astype(np.int64)
        failures = [
            DecodeFailure(int(i), "bad-header", "not Confluent wire format") for i in np.flatnonzero(~header_ok)
        ]
        parts: list[tuple[np.ndarray, list[str], list[str], np.ndarray, np.ndarray]] = []
        for schema_id in np.unique(ids[header_ok]).tolist():
            rows = np.flatnonzero(header_ok & (ids == schema_id))
            plan = self._plan(schema_id)
            if isinstance(plan, str):
                code, _, detail = plan.partition(": ")
                failures += [DecodeFailure(int(i), code, detail) for i in rows]
            elif plan is None:
                parts.append(self._decode_records(blobs, rows, failures))
            else:
                parts.append(
                    self._collect(
                        raw,
                        columnar.decode(buf, starts[rows] + HEADER.size, ends[rows], plan, len(self.spec)),
                        rows,
                        failures,
                    )
                )
        failures.sort(key=lambda f: f.position)
        return _merge(parts, len(self.spec), failures)

    def _collect(
        self, raw: bytes, cols: columnar.Columns, rows: np.ndarray, failures: list[DecodeFailure]
    ) -> tuple[np.ndarray, list[str], list[str], np.ndarray, np.ndarray]:
        """The rows that decoded and have finite features; a failure for each of the others."""
        finite = np.isfinite(cols.features).all(axis=1)
        for i in np.flatnonzero(cols.ok & ~finite):
            names = [self.spec.names[j] for j in np.flatnonzero(~np.isfinite(cols.features[i]))]
            failures.append(DecodeFailure(int(rows[i]), "non-finite-feature", ", ".join(names)))
        for i in np.flatnonzero(~cols.ok):
            code, _, detail = str(cols.reason[i]).partition(": ")
            if code == "unknown-enum-symbol":
                detail = self.spec.names[int(detail.rsplit(" ", 1)[-1])]
            failures.append(DecodeFailure(int(rows[i]), code, detail))
        keep = np.flatnonzero(cols.ok & finite)
        try:
            event_ids = _texts(raw, cols.strings["event_id"], keep)
            entity_ids = _texts(raw, cols.strings["entity_id"], keep)
        except UnicodeDecodeError:  # rare: find the culprits one by one, keep the rest
            valid = [_is_utf8(raw, cols.strings, i) for i in keep.tolist()]
            failures += [
                DecodeFailure(int(rows[i]), "undecodable", "invalid UTF-8")
                for i, v in zip(keep, valid, strict=True)
                if not v
            ]
            keep = keep[np.asarray(valid, dtype=bool)]
            event_ids = _texts(raw, cols.strings["event_id"], keep)
            entity_ids = _texts(raw, cols.strings["entity_id"], keep)
        return rows[keep], event_ids, entity_ids, cols.event_time[keep], cols.features[keep]

    def _decode_records(
        self, blobs: list[bytes], rows: np.ndarray, failures: list[DecodeFailure]
    ) -> tuple[np.ndarray, list[str], list[str], np.ndarray, np.ndarray]:
        kept: list[int] = []
        records: list[dict[str, Any]] = []
        for i in rows.tolist():
            try:
                record = self.codec.decode(blobs[i])
                encode(self.spec, [record])  # one row: finds a missing or mistyped feature of this record alone
            except SchemaError as error:
                unresolved = isinstance(error.__cause__, SchemaResolutionError)
                failures.append(DecodeFailure(i, "incompatible-schema" if unresolved else "undecodable", str(error)))
            except KeyError as error:
                failures.append(DecodeFailure(i, "missing-feature", str(error)))
            except (ValueError, TypeError) as error:
                failures.append(DecodeFailure(i, "invalid-feature", str(error)))
            else:
                kept.append(i)
                records.append(record)
        features = encode(self.spec, records)
        finite = np.isfinite(features).all(axis=1)
        for k in np.flatnonzero(~finite):
            failures.append(DecodeFailure(kept[k], "non-finite-feature", "NaN or infinite feature"))
        good = np.flatnonzero(finite)
        records = [records[k] for k in good]
        return (
            np.asarray(kept, dtype=np.int64)[good],
            [r["event_id"] for r in records],
            [r["entity_id"] for r in records],
            np.array([r["event_time"] for r in records], dtype=np.int64),
            features[good],
        )


def _texts(raw: bytes, span: tuple[np.ndarray, np.ndarray], rows: np.ndarray) -> list[str]:
    return [raw[s:e].decode() for s, e in zip(span[0][rows].tolist(), span[1][rows].tolist(), strict=True)]


def _is_utf8(raw: bytes, spans: dict[str, tuple[np.ndarray, np.ndarray]], row: int) -> bool:
    try:
        for start, end in spans.values():
            raw[start[row] : end[row]].decode()
    except UnicodeDecodeError:
        return False
    return True


def _merge(
    parts: list[tuple[np.ndarray, list[str], list[str], np.ndarray, np.ndarray]],
    n_features: int,
    failures: list[DecodeFailure],
) -> DecodedBatch:
    if len(parts) == 1:
        positions, event_ids, entity_ids, times, features = parts[0]
        return DecodedBatch(positions, event_ids, entity_ids, times, np.ascontiguousarray(features), failures)
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return DecodedBatch(empty, [], [], empty, np.zeros((0, n_features), dtype=np.float32), failures)
    positions = np.concatenate([p[0] for p in parts])
    order = np.argsort(positions, kind="stable")
    event_ids = [e for p in parts for e in p[1]]
    entity_ids = [e for p in parts for e in p[2]]
    return DecodedBatch(
        positions[order],
        [event_ids[k] for k in order],
        [entity_ids[k] for k in order],
        np.concatenate([p[3] for p in parts])[order],
        np.ascontiguousarray(np.concatenate([p[4] for p in parts])[order]),
        failures,
    )
