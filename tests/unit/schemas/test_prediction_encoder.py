"""The column-wise prediction encoder writes exactly fastavro's bytes (the reference) for the predictions schema,
and declines any other layout."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
from fastavro import parse_schema, schemaless_reader, schemaless_writer

import schemas
from schemas.codec import frame, plain
from schemas.prediction_encoder import PredictionEncoder, varints, zigzag_varint

RAW = json.loads((Path(schemas.__file__).parent / "avro" / "predictions.avsc").read_text())
HEADER = frame(42, b"")


def fastavro_value(record: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    buffer.write(HEADER)
    schemaless_writer(buffer, parse_schema(RAW), record)
    return buffer.getvalue()


def test_every_record_is_byte_for_byte_fastavros() -> None:
    rng = np.random.default_rng(7)
    n = 500
    event_ids = [f"e-{i}-" + "x" * int(rng.integers(0, 90)) for i in range(n)]  # lengths both sides of 64
    entity_ids = ["acct-é€😀"[: int(rng.integers(1, 9))] + str(i) for i in range(n)]  # multi-byte UTF-8
    times = rng.integers(-(2**62), 2**62, n, dtype=np.int64)
    times[:6] = [0, -1, 1, 2**63 - 1, -(2**63), 1_764_000_000_000]
    scores = rng.standard_normal(n).astype(np.float32)
    scores[:4] = np.array([0.0, -0.0, 1e-45, 3.4e38], dtype=np.float32)
    for model, version, variant, scored_at in (("fraud", 1, "champion", 1_764_000_000_123), ("m" * 80, -5, "", -3)):
        encoder = PredictionEncoder.of(RAW, HEADER)
        assert encoder is not None
        values = encoder.encode(
            model=model,
            version=version,
            variant=variant,
            scored_at_ms=scored_at,
            event_ids=event_ids,
            entity_ids=entity_ids,
            event_times_ms=times,
            scores=scores,
        )
        expected = [
            fastavro_value(
                {
                    "event_id": e,
                    "entity_id": k,
                    "event_time": t,
                    "model": model,
                    "version": version,
                    "score": s,
                    "outputs": {},
                    "scored_at": scored_at,
                    "variant": variant,
                }
            )
            for e, k, t, s in zip(event_ids, entity_ids, times.tolist(), scores.tolist(), strict=True)
        ]
        assert values == expected
    decoded = schemaless_reader(io.BytesIO(values[-1][len(HEADER) :]), parse_schema(plain(RAW)), None)
    assert decoded == {  # and it reads back
        "event_id": event_ids[-1],
        "entity_id": entity_ids[-1],
        "event_time": times[-1],
        "model": "m" * 80,
        "version": -5,
        "score": float(scores[-1]),
        "outputs": {},
        "scored_at": -3,
        "variant": "",
    }


def test_varints_of_an_array_match_the_scalar_encoding() -> None:
    values = np.array([0, 1, -1, 63, -64, 64, 2**31, -(2**31), 2**63 - 1, -(2**63)], dtype=np.int64)
    assert varints(values) == [zigzag_varint(int(v)) for v in values]
    assert varints(np.array([], dtype=np.int64)) == []


def test_another_layout_falls_back_to_the_codec() -> None:
    evolved = {**RAW, "fields": [*RAW["fields"], {"name": "region", "type": "string", "default": ""}]}
    assert PredictionEncoder.of(evolved, HEADER) is None
    reordered = {**RAW, "fields": list(reversed(RAW["fields"]))}
    assert PredictionEncoder.of(reordered, HEADER) is None
