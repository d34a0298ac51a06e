"""Replay (backtest) rate against its baselines, measured in one run on the same box.

- baseline, compute: the range's message values held in memory, decoded by the scorer's batch decoder and
  scored by the version's ONNX session in batches of 4,000 on one core (no Kafka, no results, no metrics), as
  events/s and as events per CPU-second;
- baseline, transport: the range read with ``assign()`` by one confluent-kafka consumer (values, partitions,
  offsets), nothing else, also per CPU-second (librdkafka's threads included);
- replay: ``run_replay`` end to end (resolve, read + decode + score, labels read beside it, merge, Parquet
  results, metrics and drift; no HTML report) with 1 and 2 scan processes, as wall-clock events/s and as events
  per CPU-second of every process and thread involved (the "per core" figure; it is immune to the box being
  shared, which wall time is not); with one process, once reading every label from Kafka and once with the
  range's labels already in the label cache (a backtest run again over the same range); then with the event
  cache: a first read into an empty one (cold: Kafka, decode, and writing the cache) and replays over a range
  already in it (warm: what the second and later versions of a backtest over the same weeks pay).
The report gives replay per CPU-second / decode + score per CPU-second (the target is 0.8), cold and warm
apart, and the most any replay that reads its events from Kafka could reach: decode + score + raw consume.
``python -m benchmarks.bench_replay [events]``
"""

from __future__ import annotations

import functools
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.common import Measurement, measure, ratio
from infra.init import initialise
from schemas.batch import EventBatchDecoder
from schemas.registry import open_store
from scorecast.app.produce_cli import produce_synthetic
from scorecast.cassandra import connect
from scorecast.settings import Settings
from scorers.hot_reload import ModelLoader
from scorers.registry import Registry
from scorers.replay.ranges import PartitionRange
from scorers.replay.reader import KafkaTopicView, RangeReader
from scorers.replay.runner import ReplayRequest, run_replay
from scorers.training import register_examples, train_examples

STREAM = "transactions"
BATCH = 4_000


@contextmanager
def prepared(settings: Settings, n: int) -> Iterator[tuple[Settings, dict[str, int]]]:
    """A keyspace and topic prefix of their own with the example models and ``n`` events + labels; dropped after."""
    run = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory() as store:
        scoped = settings.model_copy(
            update={"keyspace": f"bench_replay_{run}", "topic_prefix": f"bench.replay.{run}.", "topic_partitions": 4,
                    "model_store": store, "onnx_device": "cpu"}
        )  # fmt: skip
        initialise(scoped, [STREAM])
        _, models = train_examples(seed=7, n_train=30_000, n_holdout=5_000)
        with Registry.open(scoped) as registry:
            versions = {v.metrics["kind"]: v.version for v in register_examples(registry, models)}
        produce_synthetic(scoped, STREAM, count=n, seed=3, labels=True)
        try:
            yield scoped, versions
        finally:
            session = connect(scoped)
            session.execute(f"DROP KEYSPACE IF EXISTS {scoped.keyspace}", timeout=120)
            session.cluster.shutdown()


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def whole_topic(settings: Settings) -> tuple[PartitionRange, ...]:
    view = KafkaTopicView(settings, settings.topic(STREAM, "events"))
    try:
        return tuple(PartitionRange(p, *view.watermarks(p)) for p in view.partitions())
    finally:
        view.close()


def values_in_memory(settings: Settings) -> list[bytes | None]:
    topic = settings.topic(STREAM, "events")
    values: list[bytes | None] = []
    for raw in RangeReader(settings, topic, whole_topic(settings), BATCH):
        values += raw.values
    return values


def compute_rate(settings: Settings, values: list[bytes | None], version: int, cpu_rates: list[float]) -> float:
    """Wall events/s of decode + score in memory; appends events per CPU-second to ``cpu_rates``."""
    with Registry.open(settings) as registry:
        model = ModelLoader(registry, settings, STREAM).load("fraud", version)
    decoder = EventBatchDecoder(open_store(settings), STREAM, settings.topic(STREAM, "events"))
    cpu, started = _cpu(), time.perf_counter()
    for i in range(0, len(values), BATCH):
        model.predict_unchecked(decoder.decode(values[i : i + BATCH]).features)
    wall, used = time.perf_counter() - started, _cpu() - cpu
    cpu_rates.append(len(values) / used)
    return len(values) / wall


def consume_rate(settings: Settings, cpu_rates: list[float]) -> float:
    topic = settings.topic(STREAM, "events")
    seen = 0
    cpu, started = _cpu(), time.perf_counter()
    for raw in RangeReader(settings, topic, whole_topic(settings), BATCH):
        seen += len(raw)
    wall, used = time.perf_counter() - started, _cpu() - cpu
    cpu_rates.append(seen / used)
    return seen / wall


def replay_rates(
    settings: Settings,
    model: str,
    workers: int,
    cpu_rates: list[float],
    scan_rates: list[float],
    label_cache: Path | None = None,
    event_cache: Path | None = None,
) -> Callable[[], float]:
    """One replay of the whole topic; returns wall events/s, appends events per CPU-second to ``cpu_rates`` and,
    with one process, events per CPU-second of the scan phase alone (read + decode + score + parts, with the
    labels read beside it) to ``scan_rates``. ``event_cache``: that folder, or a fresh one per replay when it
    is ``FRESH`` (a first read that fills it)."""

    def once() -> float:
        with tempfile.TemporaryDirectory() as out:
            events = Path(out) / "events" if event_cache == FRESH else event_cache
            request = ReplayRequest(
                stream=STREAM, start="earliest", end="latest", models=(model,), results=Path(out) / "r.parquet",
                workers=workers, batch=BATCH, label_cache=label_cache, event_cache=events,
            )  # fmt: skip
            cpu, started = _cpu(), time.perf_counter()
            outcome = run_replay(settings, request)
            wall, used = time.perf_counter() - started, _cpu() - cpu
        cpu_rates.append(outcome.findings.events / used)
        if workers == 1:
            scan_rates.append(outcome.findings.events / outcome.phase_cpu["scan"])
        return outcome.findings.events / wall

    return once


MODELS = (("lightgbm", "LightGBM champion"), ("mlp", "MLP challenger"))
FRESH = Path("<a fresh folder per replay>")


def baselines(settings: Settings, versions: dict[str, int], repeats: int) -> list[Measurement]:
    values = values_in_memory(settings)
    measurements = []
    for kind, name in MODELS:
        cpu: list[float] = []
        compute = functools.partial(compute_rate, settings, values, versions[kind], cpu)
        measurements.append(measure(f"baseline: decode + score in memory, 1 core ({name})", "events/s", compute,
                                    repeats))  # fmt: skip
        measurements.append(Measurement.of(f"baseline: decode + score in memory ({name}) (per CPU-second)",
                                           "events/CPU-s", cpu))  # fmt: skip
    cpu = []
    consume = functools.partial(consume_rate, settings, cpu)
    measurements.append(measure("baseline: raw consume with assign(), 1 process", "events/s", consume, repeats))
    measurements.append(Measurement.of("baseline: raw consume with assign() (per CPU-second)", "events/CPU-s", cpu))
    return measurements


def run(settings: Settings, n: int = 500_000, repeats: int = 3) -> list[Measurement]:
    with prepared(settings, n) as (scoped, versions), tempfile.TemporaryDirectory() as cache:
        results = baselines(scoped, versions, repeats)
        for kind, label in MODELS:
            model = f"fraud@{versions[kind]}"
            for workers in (1, 2):
                cpu: list[float] = []
                scan: list[float] = []
                name = f"replay {label}, {workers} process{'es' if workers > 1 else ''}"
                results.append(measure(f"{name} (wall)", "events/s", replay_rates(scoped, model, workers, cpu, scan),
                                       repeats))  # fmt: skip
                results.append(Measurement.of(f"{name} (per CPU-second)", "events/CPU-s", cpu))
                if scan:
                    results.append(Measurement.of(f"{name}, scan phase only (per CPU-second)", "events/CPU-s", scan))
            # Labels of the range already in the cache: the first of these runs fills it and is not counted.
            cpu, scan = [], []
            warm = replay_rates(scoped, model, 1, cpu, scan, Path(cache))
            warm()
            cpu.clear()
            name = f"replay {label}, 1 process, labels cached"
            results.append(measure(f"{name} (wall)", "events/s", warm, repeats))
            results.append(Measurement.of(f"{name} (per CPU-second)", "events/CPU-s", cpu))
            # The event cache: a first read into an empty one (cold: Kafka + decode + writing the cache), then
            # replays over the cached range (warm: what the second and later versions of a backtest pay).
            for state, folder in (("cold", FRESH), ("warm", Path(cache) / f"events-{kind}")):
                cpu, scan = [], []
                once = replay_rates(scoped, model, 1, cpu, scan, Path(cache), folder)
                if state == "warm":
                    once()  # fills it; not counted
                    cpu.clear()
                    scan.clear()
                name = f"replay {label}, 1 process, event cache {state}, labels cached"
                results.append(measure(f"{name} (wall)", "events/s", once, repeats))
                results.append(Measurement.of(f"{name} (per CPU-second)", "events/CPU-s", cpu))
                results.append(Measurement.of(f"{name}, scan phase only (per CPU-second)", "events/CPU-s", scan))
    return results


def report(results: list[Measurement]) -> list[str]:
    def get(prefix: str) -> Measurement:
        return next(m for m in results if m.name.startswith(prefix))

    consume = get("baseline: raw consume with assign() (per CPU")
    lines = []
    for label, short in MODELS_SHORT:
        compute = get(f"baseline: decode + score in memory ({label}) (per CPU")
        one, two = get(f"replay {label}, 1 process (wall)"), get(f"replay {label}, 2 processes (wall)")
        cold = get(f"replay {label}, 1 process (per CPU")
        warm = get(f"replay {label}, 1 process, labels cached (per CPU")
        first = get(f"replay {label}, 1 process, event cache cold, labels cached (per CPU")
        again = get(f"replay {label}, 1 process, event cache warm, labels cached (per CPU")
        # Decode + score + reading the events, nothing else: what a replay from Kafka could reach at most.
        ceiling = 1 / (1 / compute.median + 1 / consume.median)
        lines += [
            f"{short}: in-memory decode + score {compute.median:,.0f} events/CPU-s; replay {cold.median:,.0f} "
            f"(labels from Kafka), {warm.median:,.0f} (labels cached) events/CPU-s",
            f"replay {short} per CPU-second / in-memory decode + score per CPU-second: {ratio(cold, compute):.2f} "
            f"(labels from Kafka), {ratio(warm, compute):.2f} (labels cached); target 0.8; decode + score + raw "
            f"consume alone: {ceiling / compute.median:.2f}",
            f"replay {short} with the event cache per CPU-second / in-memory decode + score per CPU-second: "
            f"{ratio(first, compute):.2f} (cold: first read, filling it), {ratio(again, compute):.2f} (warm: the "
            f"range's events and labels cached); target 0.8 (met only if the cold figures meet it too)",
            f"replay {short}, 2 processes / 1 process (wall): {ratio(two, one):.2f}x",
        ]
    transport = ratio(get("replay LightGBM champion, 1 process (wall)"), get("baseline: raw consume with assign(), 1"))
    lines.append(f"replay champion 1 process / raw consume (wall): {transport:.2f}")
    return lines


MODELS_SHORT = (("LightGBM champion", "champion"), ("MLP challenger", "MLP"))


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500_000
    results = run(Settings(), n=n)
    for result in results:
        print(result)
    for line in report(results):
        print(line)


if __name__ == "__main__":
    main()
