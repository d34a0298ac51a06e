"""`make bench` / `python -m benchmarks`: every benchmark against the local services, one report.

Each figure is a median over repeated runs with its spread; each ratio is taken between figures of this run.
Writes reports/benchmarks.md and reports/benchmarks.json. ``--quick`` shrinks sizes and repeats (a smoke run,
not figures to quote); ``--only pipeline,lookup`` runs some sections.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import Measurement, figure, ratio
from scorecast.settings import Settings

REPORTS = Path("reports")


@dataclass
class Section:
    title: str
    measurements: list[Measurement] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True)
class Plan:
    n: int  # events per throughput run
    repeats: int
    seconds: float  # per fixed-rate phase


def _models() -> Any:
    """The example models (the same trees and layers as `train-example`, trained on fewer rows: faster)."""
    from scorers.training import train_examples

    return train_examples(seed=7, n_train=20_000, n_holdout=5_000)[1]


def consume(settings: Settings, plan: Plan, _: Any) -> Section:
    from benchmarks import bench_consume

    section = Section("Kafka consume rate (transport choice)")
    section.measurements = bench_consume.run(settings, n=plan.n * 2, repeats=plan.repeats)
    section.lines = bench_consume.report(section.measurements)
    if not bench_consume.faust_installed():
        section.lines.append("faust-streaming not installed (pip install 'scorecast[faust]'): its column is skipped")
    return section


def codec(settings: Settings, plan: Plan, _: Any) -> Section:
    from benchmarks import bench_codec

    section = Section("Avro codec and producer SDK (vs plain fastavro)")
    section.measurements = bench_codec.run(settings, n=plan.n, repeats=plan.repeats)
    section.lines = bench_codec.report(section.measurements)[len(section.measurements) :]
    return section


def runtime(settings: Settings, plan: Plan, models: Any) -> Section:
    from benchmarks.bench_runtime import bench_runtime
    from scorers.training import example_data

    section = Section("onnxruntime rows/s by batch size (1 thread)")
    rows = example_data(7, 1_000, 20_000).x_holdout
    section.measurements = bench_runtime({m.kind: m.onnx for m in models[:2]}, rows, repeats=plan.repeats)
    return section


def writes(settings: Settings, plan: Plan, _: Any) -> Section:
    from benchmarks import bench_cassandra

    section = Section("Write path: prediction sinks and raw clients, one interleaved run (Cassandra's ceiling)")
    ceiling, section.measurements = bench_cassandra.run(settings, n=plan.n, repeats=plan.repeats)
    section.measurements.insert(0, ceiling)
    section.lines = bench_cassandra.report(ceiling, section.measurements)
    return section


def pipeline(settings: Settings, plan: Plan, models: Any) -> Section:
    from benchmarks import bench_cassandra, bench_pipeline
    from benchmarks.bench_pipeline import scorecast_name

    section = Section("End-to-end scoring vs Cassandra's write ceiling and a naive pipeline, per prediction sink")
    ceiling, _ = bench_cassandra.run(settings, n=plan.n, repeats=plan.repeats)
    measured = bench_pipeline.run(settings, models, n=plan.n, repeats=plan.repeats)
    section.measurements = [ceiling, *measured]
    by_name = {m.name: m for m in measured}
    naive, rss = by_name["naive per-event pipeline"], by_name["scorer worker peak RSS"]
    default = Settings().prediction_write_client
    one, two = by_name[scorecast_name(1, default)], by_name[scorecast_name(2, default)]
    section.lines = [
        f"1 worker / ceiling: {ratio(one, ceiling):.2f} (target >= 0.90; {default} sink)",
        f"2 workers / ceiling: {ratio(two, ceiling):.2f} (target >= 0.90)",
        f"1 worker / naive: {ratio(one, naive):.1f}x (target >= 10x)",
        f"2 workers / 1 worker: {ratio(two, one):.2f}x",
        *[
            f"{w} worker(s), acsylla / cassandra-driver sink: "
            f"{ratio(by_name[scorecast_name(w, 'acsylla')], by_name[scorecast_name(w, 'cassandra-driver')]):.2f}x"
            for w in (1, 2)
        ],
        f"peak worker RSS {rss.median:.0f} MB (target <= 300 MB)",
    ]
    shares = [m for m in measured if m.name.startswith(f"{bench_pipeline.SHARES}{default} sink: ")]
    if shares:  # what the gap to the ceiling (Cassandra alone on the box) is made of
        parties = ", ".join(f"{m.name.rsplit(': ', 1)[1]} {m.median:.1f}" for m in shares)
        section.lines.append(f"box CPU µs per event, 1 worker, {default} sink: {parties}")
    return section


def freshness(settings: Settings, plan: Plan, models: Any) -> Section:
    from benchmarks import bench_freshness, bench_pipeline

    section = Section("Freshness: produce → prediction readable (p50/p99)")
    peak = bench_pipeline.scorecast_drain(settings, models, plan.n, workers=1).rate
    rates = (peak / 4, peak / 2)
    section.lines.append(f"max throughput of 1 worker in this run: {peak:,.0f} events/s; loads: 1/4 and 1/2 of it")
    section.measurements = bench_freshness.run(settings, models, rates, plan.repeats)
    return section


def lookup(settings: Settings, plan: Plan, _: Any) -> Section:
    from benchmarks import bench_lookup

    section = Section("Lookup API (vegeta open-loop load, loopback) vs raw driver reads")
    section.measurements = bench_lookup.run(settings, seconds=plan.seconds, workers=(1,), repeats=plan.repeats)
    section.lines = bench_lookup.summary(section.measurements)
    return section


def replay(settings: Settings, plan: Plan, _: Any) -> Section:
    from benchmarks import bench_replay

    section = Section("Replay / backtest rate (decode + score + metrics, no Cassandra writes)")
    section.measurements = bench_replay.run(settings, n=plan.n * 5, repeats=plan.repeats)
    section.lines = bench_replay.report(section.measurements)
    return section


def shadow(settings: Settings, plan: Plan, models: Any) -> Section:
    from benchmarks import bench_shadow

    section = Section("Champion throughput with and without the shadow path")
    section.measurements = bench_shadow.run(settings, n=plan.n // 2, repeats=plan.repeats, models=models)
    return section


SECTIONS: dict[str, Callable[[Settings, Plan, Any], Section]] = {
    "consume": consume,
    "codec": codec,
    "runtime": runtime,
    "writes": writes,
    "pipeline": pipeline,
    "freshness": freshness,
    "lookup": lookup,
    "replay": replay,
    "shadow": shadow,
}


def render(sections: list[Section], started: float) -> str:
    lines = [
        "# scorecast benchmark report",
        "",
        f"- machine: {platform.node()} · {os.cpu_count()} cores · {platform.platform()} · Python "
        f"{platform.python_version()}",
        f"- load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}",
        f"- duration: {(time.time() - started) / 60:.1f} min · command: `make bench`",
        "",
    ]
    for section in sections:
        lines += [f"## {section.title}", ""]
        if section.error:
            lines += ["not measured:", "```", section.error, "```", ""]
            continue
        lines += ["| measurement | median | min | max | runs |", "|---|---|---|---|---|"]
        lines += [
            f"| {m.name} | {figure(m.median)} {m.unit} | {figure(m.low)} | {figure(m.high)} | {m.runs} |"
            for m in section.measurements
        ]
        lines += ["", *[f"- {line}" if not line.startswith(("```", "{", " ")) else line for line in section.lines], ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the scorecast benchmark suite.")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated: {', '.join(SECTIONS)}")
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat: a smoke run")
    args = parser.parse_args()
    plan = Plan(n=20_000, repeats=1, seconds=3.0) if args.quick else Plan(n=100_000, repeats=3, seconds=10.0)
    settings = Settings()
    started = time.time()
    models = _models() if {"runtime", "pipeline", "freshness", "shadow"} & set(args.only.split(",")) else None
    sections = []
    for name in args.only.split(","):
        print(f"== {name}", flush=True)
        try:
            section = SECTIONS[name](settings, plan, models)
        except Exception:
            section = Section(name, error=traceback.format_exc(limit=3))
        for line in [*map(str, section.measurements), *section.lines, *([section.error] if section.error else [])]:
            print(line, flush=True)
        sections.append(section)
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "benchmarks.md").write_text(render(sections, started))
    records = [
        {"title": s.title, "measurements": [m.to_json() for m in s.measurements], "notes": s.lines, "error": s.error}
        for s in sections
    ]
    (REPORTS / "benchmarks.json").write_text(json.dumps(records, indent=1))
    print(f"report: {REPORTS / 'benchmarks.md'}")
    if failed := [s.title for s in sections if s.error]:
        # A suite that measured nothing must not pass for one that did (a script or CI reads the exit code).
        sys.exit(f"{len(failed)} of {len(sections)} sections not measured: {', '.join(failed)}")


if __name__ == "__main__":
    main()
