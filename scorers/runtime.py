"""The model runtime: one verified onnxruntime session per model version, scoring float32 batches.

``OnnxModel.load`` refuses a model that is corrupt, fails its checksum, does not take one float32 input of the
feature spec's width, has no probability output, or yields non-probabilities on a probe batch of any size a
worker runs (one row, a small odd batch, 64 rows and the worker's batch_max: an export with a fixed batch
dimension passes one size and fails the others). ``predict``
checks the batch against the spec and refuses non-finite scores. On onnxruntime-gpu with a visible GPU the
session runs on the CUDA provider through IOBinding, in the model's tensor form (scorers.device_form: no
``ai.onnx.ml`` node, which the CUDA provider has no kernel for); otherwise on CPU, as registered, with few
threads and no spinning, because the box is shared with Kafka's and Cassandra's JVMs. The first probe run is
profiled: ``placement`` says where the nodes ran, and a CUDA session with nodes on the CPU is refused or
logged (``cpu_nodes``).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from schemas.features import FeatureSpec
from scorers.errors import ModelVerificationError, RuntimeUnavailableError, ScoringError
from scorers.ort_env import (
    cuda_failed,
    cuda_problem,
    cuda_provider_options,
    ort_output_to_logging,
    quiet_default_logger,
)
from scorers.placement import Placement, discard_profile, end_profiling, profile_directory
from scorers.signature import OutputSpec, read_signature

if TYPE_CHECKING:
    from scorecast.settings import Settings

log = logging.getLogger(__name__)

Device = Literal["auto", "cpu", "cuda"]
CpuNodes = Literal["refuse", "warn"]
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
PROBE_ROWS = 64
TENSOR_FORM_TOLERANCE = 1e-5  # max |score difference| allowed between a GPU tensor form and the registered graph
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
    quiet_default_logger(module)
    return module


@dataclass(frozen=True)
class GpuOptions:
    """How a session uses a GPU (the onnx_* settings): device, arena limit, and nodes left on the CPU."""

    device_id: int = 0
    mem_limit_mb: int = 1024
    cpu_nodes: CpuNodes = "refuse"  # device "cuda" with nodes on the CPU: refuse the model, or warn and serve

    @classmethod
    def from_settings(cls, settings: Settings) -> GpuOptions:
        return cls(settings.onnx_device_id, settings.onnx_gpu_mem_limit_mb, settings.onnx_cpu_nodes)


def replay_child_settings(settings: Settings, index: int) -> Settings:
    """Replay child ``index``'s settings: the next GPU of onnx_replay_device_ids in turn (unchanged when empty)."""
    ids = settings.onnx_replay_device_ids
    return settings.model_copy(update={"onnx_device_id": ids[index % len(ids)]}) if ids else settings


def choose_providers(available: list[str], device: Device, gpu: GpuOptions = GpuOptions()) -> list[Any]:
    """Execution providers for a session: CUDA first where allowed and present, CPU always as the fallback."""
    if device != "cpu" and CUDA in available:
        return [(CUDA, cuda_provider_options(gpu.device_id, gpu.mem_limit_mb)), CPU]
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
        if isinstance(features, DeviceBatch):  # one device copy shared by every version scoring this batch
            value = features.on_device(self._ort, self._device_type, self._device_id)
        else:
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
        batch = np.asarray(features)  # a DeviceBatch is handed over as the plain array it views
        result: np.ndarray = self._session.run([self._spec.output_name], {self._spec.input_name: batch})[0]
        return result


class DeviceBatch(np.ndarray[Any, np.dtype[np.float32]]):
    """A feature batch whose copy on a device is made once and shared by every version that scores it.

    The scoring core wraps each decoded batch in one (a view, no copy). A slice or any other array made from
    it starts with no device copy of its own: a copy belongs to exactly the rows it was made from.
    """

    _copies: dict[tuple[str, int], Any]

    @classmethod
    def of(cls, features: np.ndarray) -> DeviceBatch:
        batch = np.ascontiguousarray(features, dtype=np.float32).view(cls)
        batch._copies = {}
        return batch

    def __array_finalize__(self, obj: Any) -> None:
        self._copies = {}

    def on_device(self, ort: ModuleType, device_type: str, device_id: int) -> Any:
        """This batch as an OrtValue on the device, copied there on the first call only."""
        key = (device_type, device_id)
        value = self._copies.get(key)
        if value is None:
            value = ort.OrtValue.ortvalue_from_numpy(np.asarray(self), device_type, device_id)
            self._copies[key] = value
        return value


@dataclass(frozen=True)
class _Loaded:
    session: Any
    provider: str
    form: str  # "onnx": the registered graph; "tensor": its standard-op form for a GPU (scorers.device_form)
    profile: str  # the directory of the session's placement profile, deleted once the first probe ran


def _options(ort: ModuleType, intra_op_threads: int, profile: str) -> Any:
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    # Spinning threads would burn the cores the JVMs need between batches.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    # The first probe run is profiled to see where nodes run (scorers.placement); the file is read and deleted.
    options.enable_profiling = True
    options.profile_file_prefix = os.path.join(profile, "profile")
    return options


def _available(ort: ModuleType, device: Device) -> list[str]:
    """The providers worth offering: CUDA only when its libraries load (one clear reason when they do not)."""
    available = list(ort.get_available_providers())
    if device == "cpu" or CUDA not in available:
        return available
    problem = cuda_problem(ort)
    if problem is None:
        return available
    if device == "cuda":
        raise RuntimeUnavailableError(f"device 'cuda' asked for but the CUDA provider cannot load: {problem}")
    return [p for p in available if p != CUDA]


def _session(
    ort: ModuleType, data: bytes, device: Device, intra_op_threads: int, gpu: GpuOptions, tensor_form: bool = True
) -> _Loaded:
    providers = choose_providers(_available(ort, device), device, gpu)
    on_gpu = providers[0] != CPU
    graph, form = (_device_form(data), "tensor") if on_gpu and tensor_form else (None, "onnx")
    if graph is None:
        graph, form = data, "onnx"
    profile = profile_directory()
    options = _options(ort, intra_op_threads, profile)
    try:
        # ORT writes from C++ to fd 2 while it loads (a provider's libraries; the placement profile of a model that
        # failed to load): into logging instead. A CPU session keeps severity ERROR for its runs.
        with ort_output_to_logging(ort) as severity:
            if on_gpu:
                options.log_severity_level = severity
            session = ort.InferenceSession(graph, sess_options=options, providers=providers)
    except Exception as error:  # onnxruntime raises its own pybind exception types for every kind of bad file
        discard_profile(profile)
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if on_gpu:
            return _cpu_instead(ort, data, device, intra_op_threads, gpu, first_line[:300])
        raise ModelVerificationError(f"not a loadable ONNX model: {first_line[:300]}") from error
    # onnxruntime-gpu on a machine without a usable GPU silently drops CUDA; trust the session, not the request.
    active = session.get_providers()
    if on_gpu and CUDA not in active:
        cuda_failed(ort, "the CUDA provider could not start on this machine (no usable GPU or driver)")
    if CUDA not in active and (device == "cuda" or form != "onnx"):
        end_profiling(session, profile)  # this session is not served: its profile is deleted now
    if device == "cuda" and CUDA not in active:
        raise RuntimeUnavailableError("device 'cuda' asked for but the CUDA provider could not start on this machine")
    if CUDA not in active and form != "onnx":  # CUDA dropped after all: serve the registered graph on CPU
        return _session(ort, data, "cpu", intra_op_threads, gpu)
    if form != "onnx":
        log.info("serving the tensor form (standard ops) of the model on %s", CUDA)
    return _Loaded(session, CUDA if CUDA in active else CPU, form, profile)


def _cpu_instead(
    ort: ModuleType, data: bytes, device: Device, intra_op_threads: int, gpu: GpuOptions, failure: str
) -> _Loaded:
    """A CUDA session failed to start. The registered graph on CPU tells whose fault it is: if it loads, the GPU
    path's (out of memory, a provider option, a rewrite), never a reason to refuse, let alone quarantine, the
    model; if not, the model's (ModelVerificationError from the CPU attempt)."""
    loaded = _session(ort, data, "cpu", intra_op_threads, gpu)
    if device == "cuda":
        end_profiling(loaded.session, loaded.profile)  # not served: its profile is deleted now
        raise RuntimeUnavailableError(f"device 'cuda' asked for but the CUDA session failed: {failure}")
    log.warning("CUDA session failed (%s): serving on CPU", failure)
    return loaded


def _device_form(data: bytes) -> bytes | None:
    """The model's standard-op form for a GPU, or None (then the registered graph is used as it is)."""
    try:
        from scorers.device_form import device_form
    except ImportError:  # the onnx package is missing: the gpu extra installs it
        log.warning("onnx is not installed: models keep their ai.onnx.ml nodes, which run on the CPU")
        return None
    try:
        return device_form(data)
    except Exception as error:  # a graph the rewrite cannot read is served as registered, never refused for it
        log.warning("no tensor form (%s: %s): serving the registered graph", type(error).__name__, error)
        return None


def _tensor_form_differs(ort: ModuleType, data: bytes, model: OnnxModel, batch: np.ndarray) -> float | None:
    """The largest |score difference| between the tensor form and the registered graph on CPU, if > 1e-5."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    reference = ort.InferenceSession(data, sess_options=options, providers=[CPU])
    expected = PlainRunner(reference, model.output)(batch)
    expected = expected[:, model.output.column] if model.output.column is not None else expected.reshape(-1)
    difference = float(np.abs(model.predict_unchecked(batch).astype(np.float64) - expected).max())
    return difference if not difference <= TENSOR_FORM_TOLERANCE else None


def _check_placement(placement: Placement, provider: str, device: Device, gpu: GpuOptions) -> None:
    """A CUDA session must run every node on the GPU: refused (device "cuda", cpu_nodes "refuse") or logged."""
    on_cpu = placement.nodes.get(CPU, 0)
    if provider != CUDA or not on_cpu:
        return
    message = (
        f"{on_cpu} of {placement.total} nodes run on the CPU in a CUDA session "
        f"({', '.join(placement.cpu_ops)}): host<->device copies on every batch"
    )
    if device == "cuda" and gpu.cpu_nodes == "refuse":
        raise RuntimeUnavailableError(f"{message}; set SCORECAST_ONNX_CPU_NODES=warn to serve it anyway")
    log.warning("%s", message)


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

    def __init__(
        self, spec: FeatureSpec, output: OutputSpec, sha256: str, provider: str, runner: Any, form: str = "onnx"
    ) -> None:
        self.spec = spec
        self.output = output
        self.sha256 = sha256
        self.provider = provider
        self.form = form
        self.placement = Placement()
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
        gpu: GpuOptions = GpuOptions(),
        probe: np.ndarray | None = None,
        probe_sizes: Sequence[int] = PROBE_SIZES,
    ) -> OnnxModel:
        """Load and verify; raises ModelVerificationError (or RuntimeUnavailableError) and loads nothing else.

        The probe runs once per size in ``probe_sizes`` on the first rows of ``probe`` (by default a
        deterministic ``probe_batch`` as large as the largest size); the first run is profiled for placement.
        """
        ort = onnxruntime()
        data = artifact.read_bytes() if isinstance(artifact, Path) else artifact
        digest = hashlib.sha256(data).hexdigest()
        if expected_sha256 is not None and digest != expected_sha256.lower():
            raise ModelVerificationError(f"checksum mismatch: expected sha256 {expected_sha256}, got {digest}")
        loaded = _session(ort, data, device, intra_op_threads, gpu)
        model = cls._verified(ort, digest, loaded, spec, gpu, device, probe, probe_sizes)
        if loaded.form == "onnx":
            return model
        # The tensor form is checked against the registered graph, which the CPU runs, on the largest probe.
        batch = probe_batch(spec, rows=max(probe_sizes, default=PROBE_ROWS)) if probe is None else probe
        difference = _tensor_form_differs(ort, data, model, np.ascontiguousarray(batch))
        if difference is None:
            return model
        log.error("tensor form differs from the model by %.3g on the probe: serving the registered graph", difference)
        loaded = _session(ort, data, device, intra_op_threads, gpu, tensor_form=False)
        return cls._verified(ort, digest, loaded, spec, gpu, device, probe, probe_sizes)

    @classmethod
    def _verified(
        cls,
        ort: ModuleType,
        digest: str,
        loaded: _Loaded,
        spec: FeatureSpec,
        gpu: GpuOptions,
        device: Device,
        probe: np.ndarray | None,
        probe_sizes: Sequence[int],
    ) -> OnnxModel:
        batch = probe_batch(spec, rows=max(probe_sizes, default=PROBE_ROWS)) if probe is None else probe
        sizes = sorted(set(probe_sizes)) or [len(batch)]
        try:
            output = read_signature(loaded.session.get_inputs(), loaded.session.get_outputs(), spec)
            device_type = BINDING_DEVICE.get(loaded.provider)
            runner: Any = (
                BoundRunner(ort, loaded.session, output, device_type, gpu.device_id)
                if device_type is not None
                else PlainRunner(loaded.session, output)
            )
            model = cls(spec, output, digest, loaded.provider, runner, loaded.form)
            model._verify_probe(batch[: sizes[0]])
        finally:  # whatever failed (signature, probe): a profiled session left to the GC writes a file nobody deletes
            placement = end_profiling(loaded.session, loaded.profile)
        model.placement = placement
        _check_placement(model.placement, loaded.provider, device, gpu)
        for size in sizes[1:]:
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
        if rows == 1:
            # ONNX Runtime runs a one-row batch through other kernels (LinearClassifier's sums differed in the last
            # bits for a quarter of the rows): scored as two, a row gets the bits any larger batch gives it, so a
            # live batch of one event and a replay's thousands agree
            return self.predict_unchecked(np.repeat(np.asarray(features), 2, axis=0))[:1]
        batch = features if isinstance(features, DeviceBatch) and features.flags.c_contiguous else None
        try:
            raw = self._runner(batch if batch is not None else np.ascontiguousarray(features))
        except Exception as error:  # a runtime failure inside onnxruntime is a scoring failure of this batch
            raise ScoringError(f"onnxruntime failed on a batch of {rows}: {str(error).strip()[:300]}") from error
        scores = raw[:, self.output.column] if self.output.column is not None else raw.reshape(-1)
        if scores.shape != (rows,):
            raise ScoringError(f"model returned {scores.shape[0]} scores for a batch of {rows}")
        return np.ascontiguousarray(scores)
