"""Champion throughput with and without the shadow path beside it, measured in one run on the same box.

Each set-up drains the same number of pre-produced events with a `scorecast worker score` champion process:

- alone: nothing else runs;
- with shadow: the tee, one challengers process (both challengers) and the joiner run at the same time;
- challenger hung: the same, but the challengers process is frozen with SIGSTOP as it starts (a challenger
  that hangs): the champion never waits on the shadow path, so only the tee's CPU is shared.

The champion's rate comes from its group's committed offsets, so it counts only acknowledged writes; the
shadow path's rate is events joined for every challenger (the joiner's committed offsets) per second from
the start. On a 2-core box the shadow processes compete with the champion for CPU: that cost is real and is
what "with shadow" shows; coupling would show as "challenger hung" falling below "alone", and it does not.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.bench_pipeline import isolated, worker_env
from benchmarks.common import Measurement, measure
from scorecast.app.produce_cli import produce_synthetic
from scorecast.settings import Settings
from scorers.training import ExampleModel, train_examples
from scorers.worker import WorkerConfig
from shadow.champion import GroupProgress
from shadow.join import JoinConfig

STREAM = "transactions"
CHALLENGERS = 2  # the example models register an MLP and a logistic challenger


def _spawn(settings: Settings, command: str) -> subprocess.Popen[bytes]:
    scorecast = str(Path(sys.executable).with_name("scorecast"))
    return subprocess.Popen(
        [scorecast, "worker", command, "--stream", STREAM],
        env=worker_env(settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _done(progress: GroupProgress, partitions: int) -> int:
    return sum(max(offset, 0) for offset in progress.committed(range(partitions)).values())


def drain(settings: Settings, models: list[ExampleModel], n: int, mode: str) -> tuple[float, float]:
    """(champion events/s, shadow path events/s or NaN) for mode alone, shadow or hung."""
    with isolated(settings, models, f"shadow_{mode}") as scoped:
        produce_synthetic(scoped, STREAM, count=n, seed=31, labels=False)
        partitions = scoped.topic_partitions
        champion = GroupProgress(
            scoped, WorkerConfig(stream=STREAM, model="fraud").group, scoped.topic(STREAM, "events")
        )
        joined = GroupProgress(
            scoped, JoinConfig(stream=STREAM, model="fraud").group, scoped.topic(STREAM, "shadow-predictions")
        )
        started = time.perf_counter()
        processes = [_spawn(scoped, "score")]
        if mode != "alone":
            processes += [_spawn(scoped, c) for c in ("shadow-tee", "challengers", "shadow-join")]
        if mode == "hung":
            processes[2].send_signal(signal.SIGSTOP)
        try:
            first: tuple[float, int] | None = None
            last: tuple[float, int] | None = None
            deadline = time.monotonic() + 900
            while last is None and time.monotonic() < deadline:
                done, now = _done(champion, partitions), time.perf_counter()
                if done > 0 and first is None:
                    first = (now, done)
                if done >= n:
                    last = (now, done)
                time.sleep(0.05)
            shadow_rate = float("nan")
            if mode == "shadow":
                while time.monotonic() < deadline:
                    if _done(joined, partitions) >= CHALLENGERS * n:
                        shadow_rate = n / (time.perf_counter() - started)
                        break
                    time.sleep(0.2)
        finally:
            for process in processes:
                process.send_signal(signal.SIGCONT)
                process.terminate()
            for process in processes:
                process.wait(60)
        if first is None or last is None or last[0] <= first[0]:
            raise RuntimeError(f"the champion did not drain {n} events in time ({mode})")
        return (last[1] - first[1]) / (last[0] - first[0]), shadow_rate


def run(
    settings: Settings, n: int = 50_000, repeats: int = 3, models: list[ExampleModel] | None = None
) -> list[Measurement]:
    models = models or train_examples(seed=7, n_train=20_000, n_holdout=5_000)[1]
    rates: dict[str, list[float]] = {"alone": [], "shadow": [], "hung": [], "path": []}

    def once(mode: str) -> float:
        champion, path = drain(settings, models, n, mode)
        rates[mode].append(champion)
        if mode == "shadow":
            rates["path"].append(path)
        return champion

    results = [
        measure("champion alone", "events/s", lambda: once("alone"), repeats),
        measure("champion with tee + 2 challengers + joiner running", "events/s", lambda: once("shadow"), repeats),
        measure("champion with the challengers process hung (SIGSTOP)", "events/s", lambda: once("hung"), repeats),
    ]
    results.append(Measurement.of("shadow path: events joined for both challengers", "events/s", rates["path"]))
    for mode in ("shadow", "hung"):
        share = [100 * s / a for s, a in zip(rates[mode], rates["alone"], strict=True)]
        results.append(Measurement.of(f"champion {mode} / alone", "%", share))
    return results


if __name__ == "__main__":
    for measurement in run(Settings(), n=int(sys.argv[1]) if len(sys.argv) > 1 else 50_000,
                           repeats=int(sys.argv[2]) if len(sys.argv) > 2 else 3):  # fmt: skip
        print(measurement)
