"""onnxruntime scoring rate by batch size (1, 64, 512, 4096) for the example champion (LightGBM) and the MLP.

One CPU session per model with 1 intra-op thread and spinning off, as the scorer runs it; the batches are
contiguous float32 slices of the synthetic holdout. ``python -m benchmarks.bench_runtime``
"""

from __future__ import annotations

import functools
import json
import time

import numpy as np

from benchmarks.common import Measurement, measure
from schemas.features import load_feature_spec
from scorers.runtime import OnnxModel
from scorers.training import train_examples

BATCH_SIZES = (1, 64, 512, 4096)


def scoring_rate(model: OnnxModel, rows: np.ndarray, batch_size: int, min_seconds: float = 0.5) -> float:
    """Rows per second scoring ``rows`` in batches of ``batch_size``, repeated for at least ``min_seconds``."""
    batches = [np.ascontiguousarray(rows[i : i + batch_size]) for i in range(0, len(rows) - batch_size + 1, batch_size)]
    model.predict(batches[0])  # warm-up: first-run allocations are not the steady state
    scored = 0
    started = time.perf_counter()
    while True:
        for batch in batches:
            model.predict(batch)
        scored += batch_size * len(batches)
        elapsed = time.perf_counter() - started
        if elapsed >= min_seconds:
            return scored / elapsed


def bench_runtime(
    models: dict[str, bytes], rows: np.ndarray, batch_sizes: tuple[int, ...] = BATCH_SIZES, repeats: int = 3
) -> list[Measurement]:
    """One measurement per (model, batch size), rows/s."""
    spec = load_feature_spec("transactions")
    results = []
    for name, artifact in models.items():
        model = OnnxModel.load(artifact, spec, device="cpu", intra_op_threads=1)
        for size in batch_sizes:
            sample = rows[: max(size * 8, 4096)]
            run = functools.partial(scoring_rate, model, sample, size)
            results.append(measure(f"{name} batch {size}", "rows/s", run, repeats))
    return results


def main() -> None:
    data, examples = train_examples(seed=7)
    rows = data.x_holdout
    chosen = {f"{m.kind} ({m.alias})": m.onnx for m in examples if m.kind in ("lightgbm", "mlp")}
    results = bench_runtime(chosen, rows)
    for result in results:
        print(result)
    print(json.dumps([r.to_json() for r in results]))


if __name__ == "__main__":
    main()
