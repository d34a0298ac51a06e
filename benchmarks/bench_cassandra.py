"""Raw Cassandra write ceiling: the prediction rows of the pipeline, written by the same driver with nothing
else running (no Kafka, no ONNX), at the best request shape found over a small grid."""

from __future__ import annotations

import dataclasses
import time
import uuid

import numpy as np

from benchmarks.common import Measurement, measure
from scorecast.cassandra import connect
from scorecast.settings import Settings
from scorers.prediction_sink import PredictionRows, PredictionWriter

GRID = ((1, 256), (25, 32), (50, 32), (100, 16), (200, 8))  # (rows per request, requests in flight)


def prediction_rows(n: int, seed: int = 0) -> PredictionRows:
    rng = np.random.default_rng(seed)
    return PredictionRows(
        model="bench",
        version=1,
        variant="champion",
        entity_ids=[f"card-{i}" for i in rng.integers(0, 50_000, n)],
        event_ids=[str(uuid.UUID(int=int(x))) for x in rng.integers(0, 2**62, n)],
        event_times_ms=1_767_225_600_000 + np.arange(n, dtype=np.int64) * 5,
        scores=rng.random(n).astype(np.float32),
        scored_at_ms=int(time.time() * 1000),
    )


def write_rate(settings: Settings, rows: PredictionRows, rows_per_request: int, in_flight: int, chunk: int) -> float:
    session = connect(settings, settings.keyspace)
    try:
        writer = PredictionWriter(session, settings.keyspace, rows_per_request, in_flight)
        started = time.perf_counter()
        for start in range(0, len(rows), chunk):
            end = start + chunk
            writer.write(
                dataclasses.replace(
                    rows,
                    entity_ids=rows.entity_ids[start:end],
                    event_ids=rows.event_ids[start:end],
                    event_times_ms=rows.event_times_ms[start:end],
                    scores=rows.scores[start:end],
                )
            )
        return len(rows) / (time.perf_counter() - started)
    finally:
        session.cluster.shutdown()


def run(
    settings: Settings, n: int = 100_000, repeats: int = 3, chunk: int = 2000
) -> tuple[Measurement, tuple[int, int]]:
    """The ceiling (median of ``repeats`` at the best grid point) and that grid point."""
    rows = prediction_rows(n)
    probe = prediction_rows(20_000, seed=1)
    best = max(GRID, key=lambda shape: write_rate(settings, probe, shape[0], shape[1], chunk))
    ceiling = measure(
        f"cassandra raw write ceiling ({best[0]} rows/request, {best[1]} in flight)",
        "rows/s",
        lambda: write_rate(settings, rows, best[0], best[1], chunk),
        repeats,
    )
    return ceiling, best
