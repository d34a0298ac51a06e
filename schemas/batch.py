"""The scorer's decode path: a list of Kafka message values to envelope columns and one float32 feature matrix.

Errors are values: every record that cannot be scored (no Confluent header, unknown schema id, a writer
schema that cannot resolve to the current one, undecodable bytes, an unknown enum symbol, a missing, wrongly
typed, NaN or infinite feature) or that breaks the event rules (schemas.rules: ids, event time range, UTF-8,
float32 features) comes back as a ``DecodeFailure`` with its position, so the caller can send it to the
dead-letter topic and score the rest. Flat schemas decode vectorised (schemas.columnar, the rules checked over
numpy columns); others through fastavro record by record (the rules checked on each record's dict).
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
from schemas.rules import (
    EVENT_TIME_OUT_OF_RANGE,
    ID_BYTES,
    ID_FIELDS,
    ID_MAX_LENGTH,
    ID_REASONS,
    INVALID_UTF8,
    NON_FINITE_FEATURE,
    EventRules,
    Violation,
    id_problem,
)

_GATHER_MAX_BYTES = 1 << 20  # string bytes of a batch checked by one numpy gather


@dataclass(frozen=True)
class DecodeFailure:
    position: int  # index in the input list
    reason: str  # short code: bad-header, unknown-schema-id, incompatible-schema, undecodable, unknown-enum-symbol,
    #              missing-feature, invalid-feature, non-finite-feature, and the rules' invalid-entity-id,
    #              invalid-event-id, event-time-out-of-range, invalid-utf8
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

    def __init__(
        self, store: SchemaStore, stream: str, topic: str | None = None, rules: EventRules | None = None
    ) -> None:
        """``rules``: the event rules (``EventRules.of(settings)`` for the configured clock skew)."""
        self.rules = rules or EventRules()
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
        bounds = self.rules.event_time_bounds()  # one "now" for the whole batch
        parts: list[tuple[np.ndarray, list[str], list[str], np.ndarray, np.ndarray]] = []
        for schema_id in np.unique(ids[header_ok]).tolist():
            rows = np.flatnonzero(header_ok & (ids == schema_id))
            plan = self._plan(schema_id)
            if isinstance(plan, str):
                code, _, detail = plan.partition(": ")
                failures += [DecodeFailure(int(i), code, detail) for i in rows]
            elif plan is None:
                parts.append(self._decode_records(blobs, rows, failures, bounds))
            else:
                parts.append(
                    self._collect(
                        buf,
                        raw,
                        columnar.decode(buf, starts[rows] + HEADER.size, ends[rows], plan, len(self.spec)),
                        rows,
                        failures,
                        bounds,
                    )
                )
        failures.sort(key=lambda f: f.position)
        return _merge(parts, len(self.spec), failures)

    def _collect(
        self,
        buf: np.ndarray,
        raw: bytes,
        cols: columnar.Columns,
        rows: np.ndarray,
        failures: list[DecodeFailure],
        bounds: tuple[int, int],
    ) -> tuple[np.ndarray, list[str], list[str], np.ndarray, np.ndarray]:
        """The rows that decoded, keep the rules and have finite features; a failure for each of the others."""
        for i in np.flatnonzero(~cols.ok):
            code, _, detail = str(cols.reason[i]).partition(": ")
            if code == "unknown-enum-symbol":
                detail = self.spec.names[int(detail.rsplit(" ", 1)[-1])]
            failures.append(DecodeFailure(int(rows[i]), code, detail))
        keep = np.flatnonzero(cols.ok)
        broken, ids = self._broken_rules(buf, raw, cols, keep, bounds)
        good = np.isfinite(cols.features[keep]).all(axis=1)
        for k in np.flatnonzero(~good):
            if k not in broken:
                names = [self.spec.names[j] for j in np.flatnonzero(~np.isfinite(cols.features[keep[k]]))]
                failures.append(DecodeFailure(int(rows[keep[k]]), NON_FINITE_FEATURE, ", ".join(names)))
        if broken:
            failures += [DecodeFailure(int(rows[keep[k]]), v.reason, v.detail) for k, v in broken.items()]
            good[list(broken)] = False
        if not good.all():
            kept = np.flatnonzero(good).tolist()
            ids = {name: [texts[k] for k in kept] for name, texts in ids.items()}
            keep = keep[good]
        return rows[keep], ids["event_id"], ids["entity_id"], cols.event_time[keep], cols.features[keep]

    def _broken_rules(
        self, buf: np.ndarray, raw: bytes, cols: columnar.Columns, keep: np.ndarray, bounds: tuple[int, int]
    ) -> tuple[dict[int, Violation], dict[str, list[str]]]:
        """The first rule each row ``keep[k]`` breaks, by k, in the order of ``EventRules.violations``; and the ids
        of every row. Each string column is gathered into one bytes object and checked whole by C loops
        (``isascii``; for ids ``translate``, which deletes the allowed characters, so only separators may remain),
        ids decoded at once; rows are looked at one by one only in a column that holds something wrong."""
        found: dict[int, Violation] = {}
        ids: dict[str, list[str]] = {}
        suspects: dict[str, tuple[list[bytes], list[int]]] = {}
        for name, (all_starts, all_ends) in cols.strings.items():
            start, end = all_starts[keep], all_ends[keep]
            length = end - start
            if name in ID_FIELDS:
                if ((length >= 1) & (length <= ID_MAX_LENGTH)).all():  # and so the gather stays small
                    column = columnar.joined(buf, start, end)  # each followed by "\n", which no id holds
                    if len(column.translate(None, ID_BYTES)) == len(keep):  # only the separators remain
                        ids[name] = column[:-1].decode("ascii").split("\n") if len(keep) else []
                        continue
                pieces = [raw[s:e] for s, e in zip(start.tolist(), end.tolist(), strict=True)]
                odd = [
                    k for k, p in enumerate(pieces) if not 1 <= len(p) <= ID_MAX_LENGTH or p.translate(None, ID_BYTES)
                ]
                suspects[name] = (pieces, odd)
                ids[name] = [p.decode(errors="replace") for p in pieces]  # those of broken rows are dropped
                candidates = [k for k in odd if not pieces[k].isascii()]
            elif int(length.sum()) <= _GATHER_MAX_BYTES and columnar.joined(buf, start, end).isascii():
                continue
            else:  # non-ASCII somewhere, or too long to gather at once (the index would be 8 bytes a byte)
                spans = zip(start.tolist(), end.tolist(), strict=True)
                candidates = [k for k, (s, e) in enumerate(spans) if not raw[s:e].isascii()]
            for k in candidates:
                try:
                    raw[start[k] : end[k]].decode()
                except UnicodeDecodeError:
                    found.setdefault(k, Violation(name, INVALID_UTF8, f"{name} is not valid UTF-8"))
        for name in ID_FIELDS:
            pieces, odd = suspects.get(name, ([], []))
            for k in odd:
                found.setdefault(k, Violation(name, ID_REASONS[name], id_problem(pieces[k]) or ""))
        times = cols.event_time[keep]
        for k in np.flatnonzero((times < bounds[0]) | (times > bounds[1])).tolist():
            problem = self.rules.event_time_problem(int(times[k]), bounds) or ""
            found.setdefault(k, Violation("event_time", EVENT_TIME_OUT_OF_RANGE, problem))
        return found, ids

    def _decode_records(
        self, blobs: list[bytes], rows: np.ndarray, failures: list[DecodeFailure], bounds: tuple[int, int]
    ) -> tuple[np.ndarray, list[str], list[str], np.ndarray, np.ndarray]:
        kept: list[int] = []
        records: list[dict[str, Any]] = []
        for i in rows.tolist():
            try:
                record = self.codec.decode(blobs[i], unicode_errors="surrogateescape")  # the rules name the field
                with np.errstate(over="ignore"):  # one row: finds a missing or mistyped feature of this record alone
                    encode(self.spec, [record])
            except SchemaError as error:
                unresolved = isinstance(error.__cause__, SchemaResolutionError)
                failures.append(DecodeFailure(i, "incompatible-schema" if unresolved else "undecodable", str(error)))
            except KeyError as error:
                failures.append(DecodeFailure(i, "missing-feature", str(error)))
            except (ValueError, TypeError) as error:
                failures.append(DecodeFailure(i, "invalid-feature", str(error)))
            else:
                broken = self.rules.violations(record, bounds)
                if broken:
                    failures.append(DecodeFailure(i, broken[0].reason, broken[0].detail))
                    continue
                kept.append(i)
                records.append(record)
        with np.errstate(over="ignore"):  # a double beyond float32 becomes inf, refused below
            features = encode(self.spec, records)
        finite = np.isfinite(features).all(axis=1)
        for k in np.flatnonzero(~finite):
            names = [self.spec.names[j] for j in np.flatnonzero(~np.isfinite(features[k]))]
            failures.append(DecodeFailure(kept[k], NON_FINITE_FEATURE, ", ".join(names)))
        good = np.flatnonzero(finite)
        records = [records[k] for k in good]
        return (
            np.asarray(kept, dtype=np.int64)[good],
            [r["event_id"] for r in records],
            [r["entity_id"] for r in records],
            np.array([r["event_time"] for r in records], dtype=np.int64),
            features[good],
        )


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
