"""`make bench-gpu`: CPU vs CUDA for the example models, from model files alone (no Kafka, no Cassandra).

``export DIR`` (needs the train extra) writes each example model as registered (``<kind>.onnx``) and in the
standard-op form a GPU serves (``<kind>.tensor.onnx``, scorers.device_form), plus ``holdout.npy``. ``run DIR``
needs only numpy, onnxruntime (or onnxruntime-gpu) and those files, so it can run on a GPU machine as is:

- placement: where each form's nodes run, from ORT's profile (scorers.placement);
- parity: max |Δscore| on the holdout, tensor form vs registered graph on CPU, and CUDA vs CPU;
- rows/s and p99 per batch at 512 and 4096 rows: CPU with 1 thread (registered graph, as workers run it),
  CUDA with ``session.run`` and CUDA through IOBinding (tensor form);
- 300 batches of random sizes (1-4096): p50/p99/max latency per row count and resident memory growth;
- 4 threads scoring 512-row batches on one session at once: rows/s and p99 per call.

Without a usable CUDA provider the CUDA columns say why and only the CPU ones are measured.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from scorers.ort_env import cuda_problem, cuda_provider_options, quiet_default_logger
from scorers.placement import end_profiling

KINDS = ("lightgbm", "mlp", "logistic")
BATCHES = (512, 4096)
RANDOM_BATCHES = 300
THREADS = 4
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"


def export(folder: Path, seed: int = 7) -> None:
    from scorers.device_form import device_form
    from scorers.training import train_examples

    data, models = train_examples(seed=seed, n_train=20_000, n_holdout=20_000)
    folder.mkdir(parents=True, exist_ok=True)
    for model in models:
        (folder / f"{model.kind}.onnx").write_bytes(model.onnx)
        tensor = device_form(model.onnx)
        if tensor is not None:
            (folder / f"{model.kind}.tensor.onnx").write_bytes(tensor)
    np.save(folder / "holdout.npy", data.x_holdout)
    print(f"wrote {len(models)} models and their tensor forms to {folder}")


class Scorer:
    """One session and how it is called: ``run`` (numpy in and out) or IOBinding with the batch on the device."""

    def __init__(self, ort: Any, path: Path, provider: str, binding: bool = False, profile: bool = False) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.enable_profiling = profile
        providers: list[Any] = [(CUDA, cuda_provider_options(0, 4096)), CPU] if provider == CUDA else [CPU]
        self.ort = ort
        self.session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        self.input = self.session.get_inputs()[0].name
        self.output = next(o.name for o in self.session.get_outputs() if o.type == "tensor(float)")
        self.binding = binding
        self.device = "cuda" if provider == CUDA else "cpu"

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        if not self.binding:
            result: np.ndarray = self.session.run([self.output], {self.input: batch})[0]
            return result[:, -1]
        bound = self.session.io_binding()
        bound.bind_ortvalue_input(self.input, self.ort.OrtValue.ortvalue_from_numpy(batch, self.device, 0))
        bound.bind_output(self.output, self.device, 0)
        self.session.run_with_iobinding(bound)
        copied: np.ndarray = bound.copy_outputs_to_cpu()[0]
        return copied[:, -1]


def score_all(scorer: Scorer, x: np.ndarray) -> np.ndarray:
    """Scores of every row, 4096 at a time (the tree tensor form's intermediates grow with rows x trees)."""
    return np.concatenate([scorer(np.ascontiguousarray(x[i : i + 4096])) for i in range(0, len(x), 4096)])


def largest_difference(scores: np.ndarray, reference: np.ndarray) -> float:
    return float(np.abs(scores.astype(np.float64) - reference).max())


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def batches(x: np.ndarray, size: int) -> list[np.ndarray]:
    return [np.ascontiguousarray(x[i : i + size]) for i in range(0, len(x) - size + 1, size)]


def rate(scorer: Scorer, x: np.ndarray, size: int, seconds: float) -> dict[str, float]:
    """rows/s and per-call p50/p99 (ms) scoring batches of ``size`` for at least ``seconds``."""
    chunks = batches(x, size)
    scorer(chunks[0])  # warm-up: first-run allocations are not the steady state
    latencies: list[float] = []
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        for chunk in chunks:
            t = time.perf_counter()
            scorer(chunk)
            latencies.append(time.perf_counter() - t)
    elapsed = sum(latencies)
    ms = np.array(latencies) * 1000
    return {
        "rows_s": size * len(latencies) / elapsed,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
    }


def random_sizes(scorer: Scorer, x: np.ndarray, seed: int = 0) -> dict[str, float]:
    """300 batches of random sizes: latency per row (spikes: a new shape costs allocation) and memory growth."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 4097, RANDOM_BATCHES)
    before = rss_mb()
    per_row: list[float] = []
    calls: list[float] = []
    for size in sizes:
        start = int(rng.integers(0, len(x) - size + 1))
        chunk = np.ascontiguousarray(x[start : start + size])
        t = time.perf_counter()
        scorer(chunk)
        calls.append(time.perf_counter() - t)
        per_row.append(calls[-1] / size)
    us = np.array(per_row) * 1e6
    ms = np.array(calls) * 1000
    return {
        "p50_us_per_row": float(np.percentile(us, 50)),
        "p99_us_per_row": float(np.percentile(us, 99)),
        "max_call_ms": float(ms.max()),
        "p99_call_ms": float(np.percentile(ms, 99)),
        "peak_rss_growth_mb": rss_mb() - before,
    }


def concurrent(scorer: Scorer, x: np.ndarray, seconds: float, threads: int = THREADS) -> dict[str, float]:
    """``threads`` threads scoring 512-row batches on one session at once."""
    chunks = batches(x, 512)
    scorer(chunks[0])
    latencies: list[list[float]] = [[] for _ in range(threads)]
    stop = time.perf_counter() + seconds

    def work(mine: list[float]) -> None:
        i = 0
        while time.perf_counter() < stop:
            t = time.perf_counter()
            scorer(chunks[i % len(chunks)])
            mine.append(time.perf_counter() - t)
            i += 1

    started = time.perf_counter()
    workers = [threading.Thread(target=work, args=(mine,)) for mine in latencies]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    every = np.array([v for mine in latencies for v in mine]) * 1000
    return {"rows_s": 512 * len(every) / elapsed, "p99_ms": float(np.percentile(every, 99))}


def placement(ort: Any, path: Path, provider: str, x: np.ndarray) -> str:
    scorer = Scorer(ort, path, provider, profile=True)
    scorer(x[:64])
    return end_profiling(scorer.session).describe()


def run(folder: Path, seconds: float) -> dict[str, Any]:
    import onnxruntime as ort

    quiet_default_logger(ort)
    x = np.load(folder / "holdout.npy").astype(np.float32)
    problem = cuda_problem(ort) if CUDA in ort.get_available_providers() else "no CUDA provider in this build"
    report: dict[str, Any] = {"onnxruntime": ort.__version__, "cuda": problem or "available", "models": {}}
    for kind in KINDS:
        onnx_path, tensor_path = folder / f"{kind}.onnx", folder / f"{kind}.tensor.onnx"
        cpu = Scorer(ort, onnx_path, CPU)
        reference = score_all(cpu, x)
        entry: dict[str, Any] = {
            "placement": {"cpu onnx": placement(ort, onnx_path, CPU, x)},
            "parity": {
                "cpu tensor vs cpu onnx": largest_difference(score_all(Scorer(ort, tensor_path, CPU), x), reference)
            },
        }
        columns = {"cpu 1 thread": cpu}
        if problem is None:
            entry["placement"]["cuda onnx"] = placement(ort, onnx_path, CUDA, x)
            entry["placement"]["cuda tensor"] = placement(ort, tensor_path, CUDA, x)
            columns["cuda run"] = Scorer(ort, tensor_path, CUDA)
            columns["cuda iobinding"] = Scorer(ort, tensor_path, CUDA, binding=True)
            entry["parity"]["cuda tensor vs cpu onnx"] = float(
                np.abs(score_all(columns["cuda run"], x) - reference).max()
            )
        for name, scorer in columns.items():
            entry[name] = {f"batch {size}": rate(scorer, x, size, seconds) for size in BATCHES}
            entry[name]["random sizes"] = random_sizes(scorer, x)
            entry[name][f"{THREADS} threads"] = concurrent(scorer, x, seconds)
        report["models"][kind] = entry
    return report


def lines(report: dict[str, Any]) -> list[str]:
    out = [f"onnxruntime {report['onnxruntime']}; CUDA: {report['cuda']}"]
    for kind, entry in report["models"].items():
        out.append(f"## {kind}")
        out += [f"placement {form}: {where}" for form, where in entry["placement"].items()]
        out += [f"parity {pair}: max |Δscore| {value:.2e}" for pair, value in entry["parity"].items()]
        for column, figures in entry.items():
            if column in ("placement", "parity"):
                continue
            for case, values in figures.items():
                shown = ", ".join(f"{k} {v:,.4g}" for k, v in values.items())
                out.append(f"{column} | {case} | {shown}")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_gpu", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("export").add_argument("folder", type=Path)
    measure = sub.add_parser("run")
    measure.add_argument("folder", type=Path)
    measure.add_argument("--seconds", type=float, default=1.0, help="per rate measurement")
    measure.add_argument("--json", type=Path, default=Path("reports/bench-gpu.json"))
    args = parser.parse_args(argv)
    if args.command == "export":
        export(args.folder)
        return
    report = run(args.folder, args.seconds)
    print("\n".join(lines(report)))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
