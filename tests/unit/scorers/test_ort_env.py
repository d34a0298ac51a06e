"""onnxruntime's own output goes to logging, never raw to stderr; CUDA libraries are checked once."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import onnxruntime as ort
import pytest

from scorers import ort_env
from scorers.ort_env import cuda_problem, ort_output_to_logging, ort_severity, parse_ort_line
from tests.unit.scorers import onnx_builders as build

MISSING = (
    "2026-12-02 14:58:29.002 [E:onnxruntime:Default, provider_bridge_ort.cc:2036 TryGetProviderInfo_CUDA] "
    "Failed to load library libonnxruntime_providers_cuda.so with error: libcublasLt.so.12: cannot open"
)


def test_ort_lines_are_parsed_with_their_severity() -> None:
    assert parse_ort_line(MISSING) == (
        logging.ERROR,
        "Failed to load library libonnxruntime_providers_cuda.so with error: libcublasLt.so.12: cannot open "
        "(provider_bridge_ort.cc:2036 TryGetProviderInfo_CUDA)",
    )
    coloured = "\x1b[0;93m2026-12-02 14:58:29.1 [W:onnxruntime:, session_state.cc:1280 Verify] Some nodes\x1b[m"
    assert parse_ort_line(coloured) == (logging.WARNING, "Some nodes (session_state.cc:1280 Verify)")
    assert parse_ort_line("Traceback (most recent call last):") is None
    assert [ort_severity(level) for level in (logging.DEBUG, logging.INFO, logging.ERROR, logging.CRITICAL)] == [
        1,
        2,
        3,
        4,
    ]


def test_session_output_goes_to_logging_not_stderr(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="onnxruntime"), ort_output_to_logging(ort) as severity:
        options = ort.SessionOptions()
        options.log_severity_level = severity  # info: ORT prints several lines while it creates a session
        ort.InferenceSession(build.logistic(), sess_options=options, providers=["CPUExecutionProvider"])
        os.write(2, b"a line from elsewhere\n")
    err = capfd.readouterr().err
    assert "onnxruntime" not in err
    assert "a line from elsewhere" in err  # not ORT's: handed back to stderr as it was
    assert severity == 1
    assert any("Initializing session" in r.getMessage() for r in caplog.records if r.name == "onnxruntime")


def test_missing_cuda_libraries_are_one_logged_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "capi").mkdir()
    (tmp_path / "capi" / "libonnxruntime_providers_cuda.so").write_bytes(b"not a shared library")

    def preload_dlls() -> None:
        print("Failed to load libcudnn.so.9: cannot open shared object file")

    fake = cast("Any", SimpleNamespace(__file__=str(tmp_path / "__init__.py"), preload_dlls=preload_dlls))
    monkeypatch.setattr(ort_env, "_ready", {})
    with caplog.at_level(logging.WARNING, logger="onnxruntime"):
        problem = cuda_problem(fake)
        assert cuda_problem(fake) == problem  # checked once
    assert problem is not None
    assert "libonnxruntime_providers_cuda.so" in problem
    assert "driver must be >= 525" in problem
    messages = [r.getMessage() for r in caplog.records]
    assert "preload_dlls: Failed to load libcudnn.so.9: cannot open shared object file" in messages
    assert sum("CUDA execution provider unavailable" in m for m in messages) == 1


def test_the_cpu_build_has_no_cuda_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ort_env, "_ready", {})
    problem = cuda_problem(ort)
    assert problem is not None
    assert "scorecast[gpu]" in problem


def test_a_model_that_fails_to_load_prints_nothing_and_logs_at_debug(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    from schemas.features import load_feature_spec
    from scorers.errors import ModelVerificationError
    from scorers.runtime import OnnxModel

    # profiled for placement, a session whose load fails ends a profile it never started: ORT logs an ERROR
    with caplog.at_level(logging.DEBUG, logger="onnxruntime"), pytest.raises(ModelVerificationError):
        OnnxModel.load(build.logistic()[:-25], load_feature_spec("transactions"), device="cpu")
    assert capfd.readouterr().err == ""
    ort_records = [r for r in caplog.records if r.name == "onnxruntime"]
    assert any("Could not write a profile" in r.getMessage() for r in ort_records)
    assert all(r.levelno == logging.DEBUG for r in ort_records)
