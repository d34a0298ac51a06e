"""OnnxModel: verification at load, batch and output checks at predict, provider choice and IOBinding."""

from __future__ import annotations

import gc
import hashlib
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any, cast

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto
from sklearn.linear_model import LogisticRegression

from schemas.features import FeatureSpec
from scorecast.settings import Settings
from scorers import ort_env, runtime
from scorers.errors import ModelVerificationError, RuntimeUnavailableError, ScoringError
from scorers.runtime import (
    CPU,
    CUDA,
    BoundRunner,
    DeviceBatch,
    GpuOptions,
    OnnxModel,
    PlainRunner,
    choose_providers,
    probe_batch,
    probe_sizes,
    replay_child_settings,
)
from scorers.signature import read_signature
from tests.unit.scorers import onnx_builders as build
from tests.unit.scorers.conftest import convert


def test_sklearn_probabilities_match_predict_proba(
    spec: FeatureSpec, sklearn_logistic: tuple[LogisticRegression, np.ndarray]
) -> None:
    model, x = sklearn_logistic
    loaded = OnnxModel.load(convert(model), spec, device="cpu")
    assert (loaded.output.output_name, loaded.output.column, loaded.provider) == ("probabilities", 1, CPU)
    scores = loaded.predict(x)
    assert scores.shape == (len(x),)
    assert scores.flags.c_contiguous
    np.testing.assert_allclose(scores, model.predict_proba(x)[:, 1], atol=1e-5)


def test_zipmap_output_is_refused(spec: FeatureSpec, sklearn_logistic: tuple[LogisticRegression, np.ndarray]) -> None:
    with pytest.raises(ModelVerificationError, match="zipmap"):
        OnnxModel.load(convert(sklearn_logistic[0], zipmap=True), spec)


def test_checksum_is_verified(spec: FeatureSpec, tmp_path: Path) -> None:
    data = build.logistic()
    digest = hashlib.sha256(data).hexdigest()
    path = tmp_path / "m.onnx"
    path.write_bytes(data)
    assert OnnxModel.load(path, spec, expected_sha256=digest).sha256 == digest
    with pytest.raises(ModelVerificationError, match="checksum mismatch"):
        OnnxModel.load(data, spec, expected_sha256="0" * 64)


@pytest.mark.parametrize(
    ("artifact", "message"),
    [
        (b"definitely not onnx", "not a loadable ONNX model"),
        (build.logistic()[:-40], "not a loadable ONNX model"),
        (build.two_inputs(), "exactly 1 input"),
        (build.logistic(width=15), r"needs tensor\(float\)\[n, 16\]"),
        (build.logistic(sigmoid=False, weights=np.ones((16, 1))), "not a probability"),
        (build.logistic(weights=np.full((16, 1), np.nan)), "probe run failed on a batch of 1 row: .*non-finite"),
    ],
    ids=["garbage", "truncated", "two-inputs", "wrong-width", "not-probability", "nan-on-probe"],
)
def test_bad_models_are_refused(
    spec: FeatureSpec,
    artifact: bytes,
    message: str,
    capfd: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(ModelVerificationError, match=message):
        OnnxModel.load(artifact, spec)
    gc.collect()  # a profiled session ended by the collector writes its profile file then
    assert list(tmp_path.iterdir()) == []  # ORT opens the profile file before it parses the model: deleted too
    assert capfd.readouterr().err == ""  # ORT's lines (a failed load ends its profile: an ERROR) go to logging


@pytest.mark.parametrize("nan", [False, True], ids=["reshape-fails", "nan-scores"])
def test_probe_runs_every_batch_size_a_worker_uses(spec: FeatureSpec, nan: bool) -> None:
    # Correct on 64 rows only: the old single 64-row probe let it through, and workers failed on live batches.
    trap = build.batch_size_trap(64, nan=nan)
    passes_64 = OnnxModel.load(trap, spec, probe_sizes=(64,))
    assert passes_64.predict(probe_batch(spec, rows=64)).shape == (64,)
    with pytest.raises(ModelVerificationError, match="probe run failed on a batch of 1 row"):
        OnnxModel.load(trap, spec)
    with pytest.raises(ModelVerificationError, match="probe run failed on a batch of 500 rows"):
        OnnxModel.load(trap, spec, probe_sizes=(64, 500))


def test_probe_sizes_follow_the_batch_max() -> None:
    assert probe_sizes(2000) == (1, 7, 64, 2000)
    assert probe_sizes(300) == (1, 7, 64, 300)
    assert probe_sizes(5) == (1, 5)
    with pytest.raises(ValueError, match="batch_max"):
        probe_sizes(0)


def test_one_dimensional_and_single_column_outputs(spec: FeatureSpec) -> None:
    x = probe_batch(spec, rows=10, seed=5)
    flat = OnnxModel.load(build.logistic(output_shape=("n",)), spec)
    column = OnnxModel.load(build.logistic(), spec)
    assert (flat.output.column, column.output.column) == (None, 0)
    expected = 1 / (1 + np.exp(-(x.astype(np.float64) @ np.full(16, 0.01))))
    np.testing.assert_allclose(flat.predict(x), expected, rtol=1e-5)
    np.testing.assert_allclose(column.predict(x), expected, rtol=1e-5)


def test_batch_is_checked_against_the_spec(spec: FeatureSpec) -> None:
    model = OnnxModel.load(build.logistic(), spec)
    with pytest.raises(ScoringError, match="float32"):
        model.predict(np.zeros((4, 16)))
    with pytest.raises(ScoringError, match=r"shape \(n, 16\)"):
        model.predict(np.zeros((4, 15), dtype=np.float32))
    with pytest.raises(ScoringError, match=r"shape \(n, 16\)"):
        model.predict(np.zeros(16, dtype=np.float32))
    assert model.predict(np.zeros((0, 16), dtype=np.float32)).shape == (0,)
    fortran = np.asfortranarray(probe_batch(spec, rows=8))
    np.testing.assert_array_equal(model.predict(fortran), model.predict(np.ascontiguousarray(fortran)))


def test_non_finite_scores_are_refused_but_visible_unchecked(spec: FeatureSpec) -> None:
    model = OnnxModel.load(build.sqrt_first_feature(), spec)
    x = probe_batch(spec, rows=6)
    x[3, 0] = -1.0
    with pytest.raises(ScoringError, match="1 non-finite scores in a batch of 6 \\(first at row 3\\)"):
        model.predict(x)
    scores = model.predict_unchecked(x)
    assert np.isnan(scores[3])
    assert np.isfinite(np.delete(scores, 3)).all()


def test_non_float_input_is_refused(spec: FeatureSpec) -> None:
    with pytest.raises(ModelVerificationError, match="needs tensor"):
        OnnxModel.load(build.logistic(input_type=TensorProto.DOUBLE), spec)


def test_provider_choice() -> None:
    options = {
        "device_id": "1",
        "gpu_mem_limit": str(512 * 1024 * 1024),
        "arena_extend_strategy": "kSameAsRequested",
        "cudnn_conv_algo_search": "HEURISTIC",
        "do_copy_in_default_stream": "1",
        "use_tf32": "0",
    }
    assert choose_providers([CUDA, CPU], "auto", GpuOptions(1, 512)) == [(CUDA, options), CPU]
    assert choose_providers([CUDA, CPU], "cuda")[0][1]["device_id"] == "0"
    assert choose_providers([CUDA, CPU], "cpu") == [CPU]
    assert choose_providers([CPU], "auto") == [CPU]
    with pytest.raises(RuntimeUnavailableError, match=r"scorecast\[gpu\]"):
        choose_providers([CPU], "cuda")


def test_gpu_options_come_from_settings() -> None:
    settings = Settings(onnx_device_id=3, onnx_gpu_mem_limit_mb=256, onnx_cpu_nodes="warn")
    assert GpuOptions.from_settings(settings) == GpuOptions(3, 256, "warn")
    assert Settings(onnx_replay_device_ids=cast("Any", "0,1, 2")).onnx_replay_device_ids == [0, 1, 2]


def test_replay_children_take_the_listed_gpus_in_turn() -> None:
    spread = Settings(onnx_device_id=5, onnx_replay_device_ids=[0, 1])
    assert [replay_child_settings(spread, i).onnx_device_id for i in range(5)] == [0, 1, 0, 1, 0]
    single = Settings(onnx_device_id=5)
    assert [replay_child_settings(single, i).onnx_device_id for i in range(3)] == [5, 5, 5]
    child = replay_child_settings(spread, 1)
    assert Settings.model_validate(child.model_dump()) == child  # survives the trip to a child process


def test_missing_onnxruntime_names_the_extras(monkeypatch: pytest.MonkeyPatch, spec: FeatureSpec) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(RuntimeUnavailableError, match=r"scorecast\[cpu\].*scorecast\[gpu\]"):
        OnnxModel.load(build.logistic(), spec)


class _GpuBuildWithoutGpu:
    """onnxruntime-gpu on a machine whose CUDA provider cannot start: lists CUDA, sessions come up on CPU."""

    def __init__(self, report_cuda_active: bool) -> None:
        self.report_cuda_active = report_cuda_active
        self.asked: list[list[Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(ort, name)

    def get_available_providers(self) -> list[str]:
        return [CUDA, CPU]

    def InferenceSession(self, data: bytes, sess_options: Any, providers: list[Any]) -> Any:  # noqa: N802
        self.asked.append(providers)
        session = ort.InferenceSession(data, sess_options=sess_options, providers=[CPU])
        if self.report_cuda_active and providers[0] != CPU:
            session.get_providers = lambda: [CUDA, CPU]
        return session


@pytest.fixture
def cuda_libraries_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ort_env, "_ready", {})
    monkeypatch.setattr(ort_env, "_find_cuda_problem", lambda ort: None)


@pytest.mark.usefixtures("cuda_libraries_load")
def test_gpu_build_without_gpu_falls_back_to_cpu(
    monkeypatch: pytest.MonkeyPatch, spec: FeatureSpec, sklearn_logistic: tuple[LogisticRegression, np.ndarray]
) -> None:
    fake = _GpuBuildWithoutGpu(report_cuda_active=False)
    monkeypatch.setattr(runtime, "onnxruntime", lambda: fake)
    model = OnnxModel.load(convert(sklearn_logistic[0]), spec, device="auto")
    assert (model.provider, model.form) == (CPU, "onnx")
    assert fake.asked[0][0][0] == CUDA  # tried CUDA (the tensor form), then serves the registered graph on CPU
    assert fake.asked[1:] == [[CPU]]
    # Remembered: the next load goes straight to the CPU (no session attempt, no lines from ORT), and "cuda"
    # says why at once.
    assert OnnxModel.load(build.logistic(), spec, device="auto").provider == CPU
    assert fake.asked[2:] == [[CPU]]
    with pytest.raises(RuntimeUnavailableError, match="could not start"):
        OnnxModel.load(build.logistic(), spec, device="cuda")


def test_missing_cuda_libraries_are_one_reason_not_a_session_attempt(
    monkeypatch: pytest.MonkeyPatch, spec: FeatureSpec
) -> None:
    # Before: a session was asked for CUDA anyway, and ORT printed its raw lines on every load.
    fake = _GpuBuildWithoutGpu(report_cuda_active=False)
    monkeypatch.setattr(runtime, "onnxruntime", lambda: fake)
    monkeypatch.setattr(runtime, "cuda_problem", lambda ort: "libcublasLt.so.12: cannot open shared object file")
    assert OnnxModel.load(build.logistic(), spec, device="auto").provider == CPU
    assert fake.asked == [[CPU]]
    with pytest.raises(RuntimeUnavailableError, match=r"cannot load: libcublasLt\.so\.12"):
        OnnxModel.load(build.logistic(), spec, device="cuda")


@pytest.mark.usefixtures("cuda_libraries_load")
def test_cuda_path_runs_through_iobinding(monkeypatch: pytest.MonkeyPatch, spec: FeatureSpec) -> None:
    # The CUDA session path end to end (provider list, IOBinding runner, probe), with tensors bound on CPU.
    reference = OnnxModel.load(build.logistic(), spec, device="cpu")
    assert isinstance(reference._runner, PlainRunner)
    monkeypatch.setattr(runtime, "onnxruntime", lambda: _GpuBuildWithoutGpu(report_cuda_active=True))
    monkeypatch.setitem(runtime.BINDING_DEVICE, CUDA, "cpu")
    model = OnnxModel.load(build.logistic(), spec, device="cuda", gpu=GpuOptions(cpu_nodes="warn"))
    assert model.provider == CUDA
    assert isinstance(model._runner, BoundRunner)
    x = probe_batch(spec, rows=100, seed=9)
    np.testing.assert_array_equal(model.predict(x), reference.predict(x))


@pytest.mark.usefixtures("cuda_libraries_load")
def test_cuda_serves_the_tensor_form_held_to_the_registered_graph(
    monkeypatch: pytest.MonkeyPatch,
    spec: FeatureSpec,
    sklearn_logistic: tuple[LogisticRegression, np.ndarray],
    caplog: pytest.LogCaptureFixture,
) -> None:
    estimator, x = sklearn_logistic
    registered = convert(estimator)
    reference = OnnxModel.load(registered, spec, device="cpu")
    monkeypatch.setattr(runtime, "onnxruntime", lambda: _GpuBuildWithoutGpu(report_cuda_active=True))
    monkeypatch.setitem(runtime.BINDING_DEVICE, CUDA, "cpu")
    model = OnnxModel.load(registered, spec, device="cuda", gpu=GpuOptions(cpu_nodes="warn"))
    assert (model.provider, model.form, reference.form) == (CUDA, "tensor", "onnx")
    assert model.sha256 == reference.sha256  # the registered artifact's checksum, verified before the rewrite
    np.testing.assert_allclose(model.predict(x), reference.predict(x), atol=1e-5, rtol=0)

    # A rewrite that scored differently (here: another model's tensor form) is not served.
    other = LogisticRegression().fit(x, (x[:, 1] > 0).astype(int))
    wrong = runtime._device_form(convert(other))
    monkeypatch.setattr(runtime, "_device_form", lambda data: wrong)
    with caplog.at_level(logging.ERROR, logger="scorers.runtime"):
        fallback = OnnxModel.load(registered, spec, device="cuda", gpu=GpuOptions(cpu_nodes="warn"))
    assert (fallback.provider, fallback.form) == (CUDA, "onnx")
    assert "tensor form differs from the model" in caplog.text
    np.testing.assert_array_equal(fallback.predict(x), reference.predict(x))


class _GpuSessionFails(_GpuBuildWithoutGpu):
    """A CUDA session that fails to start (out of device memory); CPU sessions start."""

    def InferenceSession(self, data: bytes, sess_options: Any, providers: list[Any]) -> Any:  # noqa: N802
        if providers[0] != CPU:
            self.asked.append(providers)
            raise RuntimeError("CUDA failure 2: out of memory ; GPU=0")
        return super().InferenceSession(data, sess_options, providers)


@pytest.mark.usefixtures("cuda_libraries_load")
def test_a_failing_cuda_session_never_refuses_a_good_model(monkeypatch: pytest.MonkeyPatch, spec: FeatureSpec) -> None:
    # Before: reported as "not a loadable ONNX model", a ModelVerificationError: the worker quarantined the version.
    monkeypatch.setattr(runtime, "onnxruntime", lambda: _GpuSessionFails(report_cuda_active=True))
    assert OnnxModel.load(build.logistic(), spec, device="auto").provider == CPU
    with pytest.raises(RuntimeUnavailableError, match="CUDA session failed: CUDA failure 2: out of memory"):
        OnnxModel.load(build.logistic(), spec, device="cuda")
    with pytest.raises(ModelVerificationError, match="not a loadable ONNX model"):
        OnnxModel.load(b"definitely not onnx", spec, device="auto")  # the CPU fails it too: the model's fault


def test_placement_is_profiled_at_load(spec: FeatureSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    model = OnnxModel.load(build.logistic(), spec, device="cpu")
    assert model.placement.nodes == {CPU: model.placement.total}
    assert model.placement.total >= 2
    assert model.placement.share(CPU) == 1.0
    assert list(tmp_path.iterdir()) == []  # the profile was read and deleted
    with pytest.raises(ModelVerificationError):
        OnnxModel.load(build.logistic(weights=np.full((16, 1), np.nan)), spec)
    assert list(tmp_path.iterdir()) == []  # also when the probe refused the model


@pytest.mark.usefixtures("cuda_libraries_load")
def test_cuda_session_with_nodes_on_the_cpu_is_refused_or_logged(
    monkeypatch: pytest.MonkeyPatch, spec: FeatureSpec, caplog: pytest.LogCaptureFixture
) -> None:
    # The double's "CUDA" session really runs on the CPU, so the profile puts every node there.
    monkeypatch.setattr(runtime, "onnxruntime", lambda: _GpuBuildWithoutGpu(report_cuda_active=True))
    monkeypatch.setitem(runtime.BINDING_DEVICE, CUDA, "cpu")
    with pytest.raises(RuntimeUnavailableError, match=r"nodes run on the CPU in a CUDA session .*ONNX_CPU_NODES"):
        OnnxModel.load(build.logistic(), spec, device="cuda")
    with caplog.at_level(logging.WARNING, logger="scorers.runtime"):
        assert OnnxModel.load(build.logistic(), spec, device="cuda", gpu=GpuOptions(cpu_nodes="warn")).provider == CUDA
        assert OnnxModel.load(build.logistic(), spec, device="auto").provider == CUDA
    assert sum("nodes run on the CPU in a CUDA session" in r.message for r in caplog.records) == 2


def test_one_device_copy_of_a_batch_serves_every_version(spec: FeatureSpec) -> None:
    sessions = [ort.InferenceSession(build.logistic(), providers=[CPU]) for _ in range(3)]
    counting = build.CopyCountingOrt()
    models = []
    for session in sessions:
        output = read_signature(session.get_inputs(), session.get_outputs(), spec)
        runner = BoundRunner(cast("Any", counting), session, output, "cpu")
        models.append(OnnxModel(spec, output, "sha", CUDA, runner))
    x = probe_batch(spec, rows=50, seed=2)
    expected = models[0].predict(x)
    assert counting.copies == 1  # a plain array: one copy per call
    batch = DeviceBatch.of(x)
    for model in models:
        np.testing.assert_array_equal(model.predict_unchecked(batch), expected)
    assert counting.copies == 2  # one copy for the three versions
    np.testing.assert_array_equal(models[0].predict_unchecked(batch[:20]), expected[:20])
    assert counting.copies == 3  # a slice is other rows: a copy of its own


def test_session_threads_and_spinning(monkeypatch: pytest.MonkeyPatch, spec: FeatureSpec) -> None:
    seen: list[Any] = []
    real = ort.InferenceSession

    def spy(data: bytes, sess_options: Any, providers: list[Any]) -> Any:
        seen.append(sess_options)
        return real(data, sess_options=sess_options, providers=providers)

    monkeypatch.setattr(ort, "InferenceSession", spy)
    OnnxModel.load(build.logistic(), spec, device="cpu", intra_op_threads=2)
    options = seen[0]
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (2, 1)
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
