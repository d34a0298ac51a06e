"""Prediction records of one micro-batch encoded column by column, byte for byte what fastavro writes.

The scorer produces one record per scored event, and building a dict per record for fastavro's
``schemaless_writer`` cost ~7-8 µs a record, ~28% of a worker's CPU (docs/performance.md, "Scoring pipeline").
The prediction schema is fixed and small, so its Avro binary body is written here directly: the fields that are
the same for the whole batch (model, version, empty outputs map, scored_at, variant) are encoded once, the
event times' zig-zag varints for the whole batch at once with numpy, and each record is joined from its
pieces. fastavro stays the reference: ``PredictionEncoder.of`` accepts only the exact schema layout it was
written for (any other schema version falls back to the codec), and a unit test compares the bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

# (name, Avro type without logical types) of the layout encoded here, in order.
LAYOUT: tuple[tuple[str, object], ...] = (
    ("event_id", "string"),
    ("entity_id", "string"),
    ("event_time", "long"),
    ("model", "string"),
    ("version", "int"),
    ("score", "double"),
    ("outputs", {"type": "map", "values": "double"}),
    ("scored_at", "long"),
    ("variant", "string"),
)

_DOUBLE = struct.Struct("<d")
_SHORT_LENGTHS = [bytes((2 * n,)) for n in range(64)]  # zig-zag varint of a length < 64: one byte
_EMPTY_MAP = b"\x00"  # a map with no block


class PredictionEncoder:
    def __init__(self, header: bytes) -> None:
        self.header = header  # the Confluent wire-format header (magic byte + schema id)

    @classmethod
    def of(cls, raw_schema: dict[str, Any], header: bytes) -> PredictionEncoder | None:
        """An encoder if ``raw_schema`` has exactly the layout this module writes, else None (use the codec)."""
        fields = raw_schema.get("fields", [])
        found = tuple((f["name"], _plain(f["type"])) for f in fields)
        return cls(header) if found == LAYOUT else None

    def encode(
        self,
        *,
        model: str,
        version: int,
        variant: str,
        scored_at_ms: int,
        event_ids: Sequence[str],
        entity_ids: Sequence[str],
        event_times_ms: np.ndarray,
        scores: np.ndarray,
    ) -> list[bytes]:
        """One message value per row (header included), in row order."""
        middle = _string(model) + zigzag_varint(version)
        tail = _EMPTY_MAP + zigzag_varint(scored_at_ms) + _string(variant)
        times = varints(np.asarray(event_times_ms, dtype=np.int64))
        pack, header, short = _DOUBLE.pack, self.header, _SHORT_LENGTHS
        values = []
        for event_id, entity_id, time, score in zip(
            event_ids, entity_ids, times, np.asarray(scores, dtype=np.float64).tolist(), strict=True
        ):
            event = event_id.encode()
            entity = entity_id.encode()
            values.append(
                b"".join(
                    (
                        header,
                        short[len(event)] if len(event) < 64 else zigzag_varint(len(event)),
                        event,
                        short[len(entity)] if len(entity) < 64 else zigzag_varint(len(entity)),
                        entity,
                        time,
                        middle,
                        pack(score),
                        tail,
                    )
                )
            )
        return values


def zigzag_varint(value: int) -> bytes:
    """Avro's encoding of one int or long."""
    n = (value << 1) ^ (value >> 63)
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def varints(values: np.ndarray) -> list[bytes]:
    """``zigzag_varint`` of every int64 in ``values``, computed for the whole array at once."""
    n = len(values)
    if n == 0:
        return []
    z = (values.astype(np.uint64) << np.uint64(1)) ^ (values >> np.int64(63)).astype(np.uint64)
    groups = np.empty((n, 10), dtype=np.uint8)
    length = np.ones(n, dtype=np.int64)
    rest = z
    for i in range(10):
        more = rest > np.uint64(0x7F)
        groups[:, i] = (rest & np.uint64(0x7F)).astype(np.uint8) | np.where(more, 0x80, 0).astype(np.uint8)
        length += more
        rest = rest >> np.uint64(7)
    raw = groups.tobytes()
    return [raw[10 * i : 10 * i + k] for i, k in enumerate(length.tolist())]


def _string(value: str) -> bytes:
    data = value.encode()
    return zigzag_varint(len(data)) + data


def _plain(schema: object) -> object:
    """A field type without its logical type (timestamp-millis is a long on the wire)."""
    if isinstance(schema, dict):
        plain = {k: v for k, v in schema.items() if k not in ("logicalType", "doc")}
        return plain["type"] if set(plain) == {"type"} else plain
    return schema
