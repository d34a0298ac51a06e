"""onnxruntime's process-wide set-up: CUDA libraries found once, CUDA provider options, and ORT's output in logging.

ORT writes its own log lines from C++ straight to file descriptor 2 (a missing ``libcublasLt`` was four raw
lines, one of them red, per session created), and ``preload_dlls`` prints to stdout. None of it may reach a
terminal raw. So: ORT's default logger is set to FATAL once; a CUDA session is created inside
``ort_output_to_logging``, which points fd 2 at a temporary file for that call only and replays each ORT line
into the ``onnxruntime`` logger at its own severity (a line that is not ORT's, written meanwhile by another
thread, goes back to stderr unchanged). CPU sessions are created inside it too: a session profiled for placement
whose load fails ends that profile and logs an ERROR ("Could not write a profile because no model was loaded").
When the captured call raises, its exception tells the failure: ORT's lines about it are replayed at DEBUG.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import logging
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

log = logging.getLogger("onnxruntime")

# ORT's severities: 0 verbose, 1 info, 2 warning, 3 error, 4 fatal.
ORT_LEVELS = {"V": logging.DEBUG, "I": logging.DEBUG, "W": logging.WARNING, "E": logging.ERROR, "F": logging.CRITICAL}
_LINE = re.compile(r"^(?:\x1b\[[0-9;]*m)?\S+ \S+ \[([VIWEF]):onnxruntime:[^,\]]*, ([^\]]*)\] (.*?)(?:\x1b\[m)?$")
_capture = threading.Lock()
_setup = threading.Lock()
_ready: dict[int, str | None] = {}  # id(ort module) -> why its CUDA provider cannot load (None: it can)


def ort_severity(level: int) -> int:
    """The lowest ORT severity worth printing for a Python logger at ``level`` (info, never verbose)."""
    if level <= logging.DEBUG:
        return 1
    if level <= logging.WARNING:
        return 2
    return 3 if level <= logging.ERROR else 4


def parse_ort_line(line: str) -> tuple[int, str] | None:
    """(Python level, message) of one ORT log line, or None when the line is not ORT's."""
    match = _LINE.match(line.rstrip("\r\n"))
    if match is None:
        return None
    severity, where, message = match.groups()
    return ORT_LEVELS[severity], f"{message} ({where})"


def quiet_default_logger(ort: ModuleType) -> None:
    """ORT's environment logger at FATAL: outside a capture nothing it logs may reach stderr raw."""
    if hasattr(ort, "set_default_logger_severity"):
        ort.set_default_logger_severity(4)


@contextlib.contextmanager
def ort_output_to_logging(ort: ModuleType) -> Iterator[int]:
    """Capture fd 2 for one call into ORT and replay its lines into logging; yields the session log severity.

    One capture at a time (a lock). The temporary file cannot fill up and block a writer as a pipe would.
    When the call raises, ORT's lines are DEBUG records: the exception is the one account of the failure.
    """
    severity = ort_severity(log.getEffectiveLevel())
    failed = False
    with _capture, tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            if hasattr(ort, "set_default_logger_severity"):
                ort.set_default_logger_severity(severity)
            yield severity
        except BaseException:
            failed = True
            raise
        finally:
            quiet_default_logger(ort)
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            _replay(sink.read().decode(errors="replace"), failed)


def _replay(text: str, failed: bool) -> None:
    for line in text.splitlines():
        parsed = parse_ort_line(line)
        if parsed is not None:
            level, message = parsed
            log.log(logging.DEBUG if failed else level, message)
        elif line.strip():
            sys.stderr.write(line + "\n")  # another thread's output, written while fd 2 was captured


def cuda_problem(ort: ModuleType) -> str | None:
    """Why this onnxruntime's CUDA provider cannot load on this machine, or None when it can (checked once).

    First ``preload_dlls()`` (ORT >= 1.21) loads the CUDA 12 and cuDNN 9 libraries of the ``nvidia-*`` wheels
    the ``gpu`` extra installs, so no LD_LIBRARY_PATH is needed; what it prints goes to logging. Then the
    provider library itself is loaded with ctypes: a missing dependency is one clear line here, instead of the
    raw lines ORT would print for every session and a silent fall back to CPU.
    """
    with _setup:
        key = id(ort)
        if key not in _ready:
            _ready[key] = _find_cuda_problem(ort)
            if _ready[key] is not None:
                log.warning("CUDA execution provider unavailable: %s", _ready[key])
        return _ready[key]


def cuda_failed(ort: ModuleType, reason: str) -> None:
    """A CUDA session came up without CUDA (no usable GPU or driver): later loads go straight to the CPU."""
    with _setup:
        if _ready.get(id(ort)) is None:
            _ready[id(ort)] = reason
            log.warning("CUDA execution provider unavailable: %s", reason)


def _find_cuda_problem(ort: ModuleType) -> str | None:
    preload = getattr(ort, "preload_dlls", None)
    if preload is not None:
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):
                preload()
        except Exception as error:  # a bad install must not stop a worker that can still run on CPU
            log.warning("onnxruntime.preload_dlls failed: %s", error)
        for line in printed.getvalue().splitlines():
            if line.strip():
                log.warning("preload_dlls: %s", line.strip())
    if not sys.platform.startswith("linux"):
        return None  # Windows loads the provider by its own rules; the session reports what started
    library = Path(str(ort.__file__)).parent / "capi" / "libonnxruntime_providers_cuda.so"
    if not library.is_file():
        return f"{library.name} is not in this onnxruntime build (install scorecast[gpu], not scorecast[cpu])"
    try:
        ctypes.CDLL(str(library))
    except OSError as error:
        return f"{error} (the gpu extra installs CUDA 12 and cuDNN 9; the driver must be >= 525)"
    return None


def cuda_provider_options(device_id: int, mem_limit_mb: int) -> dict[str, str]:
    """CUDA provider options chosen on purpose (docs/performance.md, "GPU").

    A bounded arena per session (a worker caches up to 8 versions), grown by what is asked rather than
    doubling, and cuDNN's heuristic algorithm choice: EXHAUSTIVE benchmarks every new input shape, and a
    streaming batch has a new shape nearly every time. TF32 off: it rounds MatMul inputs to 10 mantissa bits
    (~1e-3 off the CPU's scores), and scores must match the CPU's to 1e-5.
    """
    return {
        "device_id": str(device_id),
        "gpu_mem_limit": str(mem_limit_mb * 1024 * 1024),
        "arena_extend_strategy": "kSameAsRequested",
        "cudnn_conv_algo_search": "HEURISTIC",
        "do_copy_in_default_stream": "1",
        "use_tf32": "0",
    }
