"""Scanning with several processes: the remaining offsets cut into equal shares, one child process each.

A child is ``python -m scorers.replay.parallel``: a fresh interpreter that imports only the scan path (not the
CLI, the report or the parent's main module), reads its pickled ``ScanJob`` on stdin and writes one line per
batch on stdout (``progress N``, then ``done`` or ``error MESSAGE``). Children ignore Ctrl-C; the parent
forwards a stop as SIGTERM, on which a child commits the batch in hand and exits. Each child commits its own
checkpoint parts; parts record the offsets they cover, so a share may be part of a partition, and results
(sorted by partition and offset at the merge) do not depend on how many processes made them.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import selectors
import signal
import subprocess
import sys
import threading
from typing import IO

from scorecast.errors import ScorecastError
from scorers.replay.errors import ReplayError
from scorers.replay.progress import Advance
from scorers.replay.ranges import PartitionRange
from scorers.replay.scan import ScanJob, scan
from scorers.runtime import replay_child_settings


def shares(ranges: tuple[PartitionRange, ...], workers: int) -> list[tuple[PartitionRange, ...]]:
    """Cut ``ranges`` into at most ``workers`` shares of (nearly) equal size, splitting partitions at offsets."""
    total = sum(r.events for r in ranges)
    size = -(-total // max(workers, 1))
    result: list[list[PartitionRange]] = [[]]
    room = size
    for r in ranges:
        start = r.start
        while start < r.end:
            if room == 0:
                result.append([])
                room = size
            end = min(r.end, start + room)
            result[-1].append(PartitionRange(r.partition, start, end))
            room -= end - start
            start = end
    return [tuple(s) for s in result if s]


def scan_all(job: ScanJob, workers: int, advance: Advance, stop: threading.Event) -> None:
    """Scan ``job.ranges`` in this process (one worker) or in ``workers`` child processes; raises the first failure."""
    jobs = [
        dataclasses.replace(job, ranges=share, settings=replay_child_settings(job.settings, i))
        for i, share in enumerate(shares(job.ranges, workers))
    ]
    if len(jobs) == 1:
        scan(jobs[0], advance, stop)
        return
    children = [_Child(j) for j in jobs]
    try:
        _supervise(children, advance, stop, threading.Event())
    finally:
        for child in children:
            child.close()
    # A child's own report first: others may only have been stopped because of it.
    failed = sorted((c for c in children if c.outcome != "done"), key=lambda c: not c.reported)
    if failed:
        raise ReplayError(failed[0].outcome.removeprefix("error "))


class _Child:
    def __init__(self, job: ScanJob) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "scorers.replay.parallel"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert self.process.stdin is not None
        self.process.stdin.write(pickle.dumps(job))
        self.process.stdin.close()
        self.outcome = ""
        self.reported = False  # the child itself said how it ended
        self.stderr = b""
        self.pending = b""  # stdout bytes after the last complete line

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if not self.outcome:
            last = self.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
            self.outcome = (
                f"error a replay worker died (exit code {self.process.returncode}: {last[0][:300]}); "
                "rerun the same command to continue"
            )


def _supervise(children: list[_Child], advance: Advance, stop: threading.Event, failed: threading.Event) -> None:
    selector = selectors.DefaultSelector()
    for child in children:
        assert child.process.stdout is not None
        assert child.process.stderr is not None
        selector.register(child.process.stdout, selectors.EVENT_READ, (child, "out"))
        selector.register(child.process.stderr, selectors.EVENT_READ, (child, "err"))
    stopping = False
    while selector.get_map():
        if (stop.is_set() or failed.is_set()) and not stopping:
            stopping = True
            for child in children:
                if child.process.poll() is None:
                    child.process.send_signal(signal.SIGTERM)
        for key, _ in selector.select(timeout=0.2):
            child, stream = key.data
            pipe: IO[bytes] = key.fileobj  # type: ignore[assignment]
            chunk = os.read(pipe.fileno(), 65536)  # what is there now; lines are split here, not by a buffer
            if not chunk:
                selector.unregister(pipe)
            elif stream == "err":
                child.stderr = (child.stderr + chunk)[-4096:]
            else:
                child.pending += chunk
                *lines, child.pending = child.pending.split(b"\n")
                for line in lines:
                    _line(child, line, advance, failed)


def _line(child: _Child, line: bytes, advance: Advance, failed: threading.Event) -> None:
    if line.startswith(b"progress "):
        advance(int(line[9:]))
    elif line:
        child.outcome, child.reported = line.decode(errors="replace").strip(), True
        if child.outcome != "done":
            failed.set()  # one failure ends the replay: the others commit what they have and stop


def _child_main() -> None:
    """Entry of a child: the job on stdin, progress and the outcome as lines on stdout."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent decides
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    job: ScanJob = pickle.load(sys.stdin.buffer)  # written by our own parent process
    out = sys.stdout

    def report(line: str) -> None:
        out.write(line + "\n")
        out.flush()

    try:
        scan(job, lambda n: report(f"progress {n}"), stop)
    except ScorecastError as error:
        report(f"error {' '.join(str(error).split())}")
    except Exception as error:  # an unexpected failure still ends as one line in the parent
        report(f"error {type(error).__name__}: {' '.join(str(error).split())}")
    else:
        report("done")


if __name__ == "__main__":
    _child_main()
