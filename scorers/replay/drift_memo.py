"""Drift results kept by a digest of everything they are computed from, so a backtest over a range seen before
(another version trained on the same data, the same version again) does not compare every feature again.

Feature drift depends on the events and the reference profile, not on the model: it is the largest part of a
backtest's statistics once events come from the event cache (~0.15 s of CPU per 200k events, as much as scoring
them with the MLP example). The key is a SHA-256 digest of the reference (feature spec and profile), the
event-time slice edges, and the bytes of the compared values and event times (~10 ms per 200k events with the
CPU's SHA instructions, ~60% of BLAKE2b's time here), so a hit is the result of the same computation. Its PSI is
exact; a KS p-value comes from a KLL sketch whose compaction is randomised, so a fresh computation may differ
within the sketch's error (repeated backtests now agree). Files live in the event cache's folder
(``drift-v1``), are written beside and renamed into place, and an unreadable one is recomputed and written
again; the oldest are deleted beyond ``max_files``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from scorers.replay.metrics import Drift

log = logging.getLogger(__name__)
FOLDER = "drift-v1"
DEFAULT_MAX_FILES = 4096


class DriftMemo:
    def __init__(self, root: Path, max_files: int = DEFAULT_MAX_FILES) -> None:
        self.directory = root / FOLDER
        self._max_files = max_files
        self.hits = 0

    def drift(
        self,
        reference: str,
        values: np.ndarray,
        event_times: np.ndarray,
        edges: np.ndarray,
        compute: Callable[[], Drift],
    ) -> Drift:
        """``compute()``'s result for these inputs: from a file when computed before, else computed and kept."""
        path = self.directory / f"{digest(reference, values, event_times, edges)}.npz"
        found = _load(path)
        if found is not None:
            self.hits += 1
            with contextlib.suppress(OSError):  # evicted meanwhile, or a read-only cache: the result stands
                os.utime(path)  # recently used: deleted last
            return found
        drift = compute()
        self._store(path, drift)
        return drift

    def _store(self, path: Path, drift: Drift) -> None:
        """Keep ``drift``; a folder that cannot be written (full, read-only, not a folder) costs the next backtest
        the computation and this one a warning, nothing else."""
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with tmp.open("wb") as out:
                np.savez(out, columns=np.array(drift.columns), tests=np.array(drift.tests), psi=drift.psi,
                         p_values=drift.p_values, psi_whole=drift.psi_whole)  # fmt: skip
            os.replace(tmp, path)
            self._evict()
        except OSError as error:
            log.warning("could not keep drift results in %s: %s", self.directory, error)
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)

    def _evict(self) -> None:
        files = []
        for path in self.directory.glob("*.npz"):
            try:
                files.append((path.stat().st_mtime, path))
            except FileNotFoundError:
                continue  # deleted meanwhile by another backtest
        for _, path in sorted(files)[: max(0, len(files) - self._max_files)]:
            path.unlink(missing_ok=True)


def digest(reference: str, values: np.ndarray, event_times: np.ndarray, edges: np.ndarray) -> str:
    """The inputs' digest: their dtypes, shapes and memory order too, so equal bytes of another layout never
    collide. Hashed in the order they lie in: a column selection (``features[:, index]``) comes back in Fortran
    order, and copying it to C order cost more than the hash itself."""
    h = hashlib.sha256()
    h.update(reference.encode())
    for array in (values, event_times, edges):
        order = "F" if array.flags.f_contiguous and not array.flags.c_contiguous else "C"
        flat = array.T if order == "F" else np.ascontiguousarray(array)
        h.update(f"|{array.dtype.str}{array.shape}{order}|".encode())
        h.update(flat.data.cast("B"))
    return h.hexdigest()


def _load(path: Path) -> Drift | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            columns = tuple(str(c) for c in data["columns"])
            drift = Drift(columns, tuple(str(t) for t in data["tests"]), data["psi"], data["p_values"],
                          data["psi_whole"])  # fmt: skip
    except (FileNotFoundError, NotADirectoryError):
        return None  # not computed before (or no cache folder to hold it)
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as error:
        _drop(path, f"unreadable ({error})")
        return None
    if drift.psi.shape != drift.p_values.shape or {drift.psi.shape[0], len(drift.psi_whole)} != {len(columns)}:
        _drop(path, "arrays of mismatched shapes")
        return None
    return drift


def _drop(path: Path, why: str) -> None:
    log.warning("recomputing drift: %s: %s", path, why)
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)
