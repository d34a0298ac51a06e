"""The model runtime: one verified onnxruntime session per model version, scoring float32 batches.

``OnnxModel.load`` refuses a model that is corrupt, fails its checksum, does not take one float32 input of the
feature spec's width, has no probability output, or yields non-probabilities on a probe batch of any size a
worker runs (one row, a small odd batch, 64 rows and the worker's batch_max: an export with a fixed batch
dimension passes one size and fails the others). ``predict``
checks the batch against the spec and refuses non-finite scores. On onnxruntime-gpu with a visible GPU the
session runs on the CUDA provider through IOBinding; otherwise on CPU with few threads and no spinning,
because the box is shared with Kafka's and Cassandra's JVMs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import numpy as np

from schemas.features import FeatureSpec
from scorers.errors import ModelVerificationError, RuntimeUnavailableError, ScoringError
from scorers.signature import OutputSpec, read_signature

Device = Literal["auto", "cpu", "cuda"]
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
PROBE_ROWS = 64
DEFAULT_BATCH_MAX = 2000  # the scorer's default micro-batch ceiling (WorkerConfig.batch_max)
# Providers whose sessions run through IOBinding, and the OrtValue device type their tensors live on.
BINDING_DEVICE = {CUDA: "cuda"}


def onnxruntime() -> ModuleType:
    """The onnxruntime module, or a clear error naming the extra to install."""
    try:
        import onnxruntime
    except ImportError as error:
        raise RuntimeUnavailableError(
            "onnxruntime is not installed: pip install 'scorecast[cpu]' (or 'scorecast[gpu]' for CUDA; not both)"
        ) from error
    module: ModuleType = onnxruntime
    return module


def choose_providers(available: list[str], device: Device, device_id: int = 0) -> list[Any]:
    """Execution providers for a session: CUDA first where allowed and present, CPU always as the fallback."""
    if device != "cpu" and CUDA in available:
        return [(CUDA, {"device_id": device_id}), CPU]
    if device == "cuda":
        raise RuntimeUnavailableError(
            "device 'cuda' asked for but onnxruntime has no CUDAExecutionProvider: pip install 'scorecast[gpu]'"
        )
    return [CPU]


class BoundRunner:
    """Runs a session through IOBinding: the batch is placed on the device once, only the score is bound.

    The CUDA path uses it with ``device_type="cuda"``; unit tests drive the same code with ``"cpu"``.
    A binding is made per call because an IOBinding is not safe to share between threads.
    """

    def __init__(self, ort: ModuleType, session: Any, spec: OutputSpec, device_type: str, device_id: int = 0) -> None:
        self._ort = ort
        self._session = session
        self._spec = spec
        self._device_type = device_type
        self._device_id = device_id

    def __call__(self, features: np.ndarray) -> np.ndarray:
        binding = self._session.io_binding()
        value = self._ort.OrtValue.ortvalue_from_numpy(features, self._device_type, self._device_id)
        binding.bind_ortvalue_input(self._spec.input_name, value)
        binding.bind_output(self._spec.output_name, self._device_type, self._device_id)
        self._session.run_with_iobinding(binding)
        result: np.ndarray = binding.copy_outputs_to_cpu()[0]
        return result


class PlainRunner:
    """Runs a CPU session with ``session.run``, asking for the score output only."""

    def __init__(self, session: Any, spec: OutputSpec) -> None:
        self._session = session
        self._spec = spec

    def __call__(self, features: np.ndarray) -> np.ndarray:
        result: np.ndarray = self._session.run([self._spec.output_name], {self._spec.input_name: features})[0]
        return result


@dataclass(frozen=True)
class _Loaded:
    session: Any
    provider: str


def _session(ort: ModuleType, data: bytes, device: Device, intra_op_threads: int, device_id: int) -> _Loaded:
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    # Spinning threads would burn the cores the JVMs need between batches.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    providers = choose_providers(list(ort.get_available_providers()), device, device_id)
    try:
        session = ort.InferenceSession(data, sess_options=options, providers=providers)
    except Exception as error:  # onnxruntime raises its own pybind exception types for every kind of bad file
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelVerificationError(f"not a loadable ONNX model: {first_line[:300]}") from error
    # onnxruntime-gpu on a machine without a usable GPU silently drops CUDA; trust the session, not the request.
    active = session.get_providers()
    if device == "cuda" and CUDA not in active:
        raise RuntimeUnavailableError("device 'cuda' asked for but the CUDA provider could not start on this machine")
    return _Loaded(session, CUDA if CUDA in active else CPU)


def probe_batch(spec: FeatureSpec, rows: int = PROBE_ROWS, seed: int = 0) -> np.ndarray:
    """A deterministic batch of plausible inputs: valid category indices, 0/1 booleans, non-negative numbers."""
    rng = np.random.default_rng(seed)
    batch = np.empty((rows, len(spec)), dtype=np.float32)
    for j, feature in enumerate(spec.features):
        if feature.kind == "categorical":
            batch[:, j] = rng.integers(0, max(len(feature.categories), 1), rows)
        elif feature.avro_type == "boolean":
            batch[:, j] = rng.integers(0, 2, rows)
        else:
            batch[:, j] = rng.lognormal(1.0, 1.5, rows)
    return batch


def probe_sizes(batch_max: int = DEFAULT_BATCH_MAX) -> tuple[int, ...]:
    """The batch sizes to verify for a worker that takes up to ``batch_max`` events: 1, 7, 64 and batch_max."""
    if batch_max < 1:
        raise ValueError(f"batch_max must be at least 1, got {batch_max}")
    return tuple(sorted({min(size, batch_max) for size in (1, 7, PROBE_ROWS, batch_max)}))


PROBE_SIZES = probe_sizes()


class OnnxModel:
    """A loaded, verified model: ``predict`` maps an (n, len(spec)) float32 batch to n positive-class scores."""

    def __init__(self, spec: FeatureSpec, output: OutputSpec, sha256: str, provider: str, runner: Any) -> None:
        self.spec = spec
        self.output = output
        self.sha256 = sha256
        self.provider = provider
        self._runner = runner
        self._width = len(spec)

    @classmethod
    def load(
        cls,
        artifact: bytes | Path,
        spec: FeatureSpec,
        *,
        expected_sha256: str | None = None,
        device: Device = "auto",
        intra_op_threads: int = 1,
        device_id: int = 0,
        probe: np.ndarray | None = None,
        probe_sizes: Sequence[int] = PROBE_SIZES,
    ) -> OnnxModel:
        """Load and verify; raises ModelVerificationError (or RuntimeUnavailableError) and loads nothing else.

        The probe runs once per size in ``probe_sizes`` on the first rows of ``probe`` (by default a
        deterministic ``probe_batch`` as large as the largest size).
        """
        ort = onnxruntime()
        data = artifact.read_bytes() if isinstance(artifact, Path) else artifact
        digest = hashlib.sha256(data).hexdigest()
        if expected_sha256 is not None and digest != expected_sha256.lower():
            raise ModelVerificationError(f"checksum mismatch: expected sha256 {expected_sha256}, got {digest}")
        loaded = _session(ort, data, device, intra_op_threads, device_id)
        output = read_signature(loaded.session.get_inputs(), loaded.session.get_outputs(), spec)
        device_type = BINDING_DEVICE.get(loaded.provider)
        runner: Any = (
            BoundRunner(ort, loaded.session, output, device_type, device_id)
            if device_type is not None
            else PlainRunner(loaded.session, output)
        )
        model = cls(spec, output, digest, loaded.provider, runner)
        batch = probe_batch(spec, rows=max(probe_sizes, default=PROBE_ROWS)) if probe is None else probe
        for size in sorted(set(probe_sizes)) or [len(batch)]:
            model._verify_probe(batch[:size])
        return model

    def _verify_probe(self, batch: np.ndarray) -> None:
        try:
            scores = self.predict(batch)
        except ScoringError as error:
            rows = f"{len(batch)} row{'s' if len(batch) != 1 else ''}"
            raise ModelVerificationError(f"probe run failed on a batch of {rows}: {error}") from error
        if scores.min() < 0.0 or scores.max() > 1.0:
            raise ModelVerificationError(
                f"output {self.output.output_name!r} is not a probability: probe scores span "
                f"[{scores.min():.4g}, {scores.max():.4g}]"
            )

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Scores of the positive class, shape (n,), float32; refuses a malformed batch or non-finite scores."""
        scores = self.predict_unchecked(features)
        finite = np.isfinite(scores)
        if not finite.all():
            bad = int((~finite).sum())
            first = int(np.argmin(finite))
            raise ScoringError(
                f"model produced {bad} non-finite scores in a batch of {len(scores)} (first at row {first})"
            )
        return scores

    def predict_unchecked(self, features: np.ndarray) -> np.ndarray:
        """Like ``predict`` but leaves NaN/inf scores in place, for callers that dead-letter them row by row."""
        if not isinstance(features, np.ndarray) or features.dtype != np.float32:
            dtype = getattr(features, "dtype", type(features).__name__)
            raise ScoringError(f"batch must be a float32 numpy array, got {dtype}")
        if features.ndim != 2 or features.shape[1] != self._width:
            raise ScoringError(
                f"batch must have shape (n, {self._width}) for stream {self.spec.stream!r}, got {features.shape}"
            )
        rows = features.shape[0]
        if rows == 0:
            return np.empty(0, dtype=np.float32)
        try:
            raw = self._runner(np.ascontiguousarray(features))
        except Exception as error:  # a runtime failure inside onnxruntime is a scoring failure of this batch
            raise ScoringError(f"onnxruntime failed on a batch of {rows}: {str(error).strip()[:300]}") from error
        scores = raw[:, self.output.column] if self.output.column is not None else raw.reshape(-1)
        if scores.shape != (rows,):
            raise ScoringError(f"model returned {scores.shape[0]} scores for a batch of {rows}")
        return np.ascontiguousarray(scores)
