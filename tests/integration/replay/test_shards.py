"""A replay split over 3 shards run as 3 processes, then merged, equals a one-process replay row for row, and
its report and summary are the same (only the replay time differs); an interrupted shard writes no part and
its rerun continues from its checkpoint."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from scorecast.settings import Settings
from scorers.registry import ModelVersion
from scorers.replay.errors import ReplayInterruptedError
from scorers.replay.findings import Findings
from scorers.replay.merge import merge_parts
from scorers.replay.parts import ResultStore
from scorers.replay.report import render
from scorers.replay.runner import ReplayRequest
from scorers.replay.sharded import ShardOutcome, checkpoint_base, run_shard
from scorers.replay.shards import Shard
from tests.integration.pipeline.conftest import worker_env
from tests.integration.replay.conftest import STREAM, Produce, Replay, every_version
from tests.integration.replay.test_resume import StopAfter


def run_shards(
    settings: Settings, count: int, start: str, end: str, models: tuple[str, ...], url: str, cache: str
) -> None:
    """Every shard as its own `scorecast replay --shard I/N` process, all at once (shard 0 with 2 scan processes)."""
    scorecast = Path(sys.executable).with_name("scorecast")
    common = ["replay", "--stream", STREAM, "--from", start, "--to", end, "--results", url]
    common += [a for m in models for a in ("--model", m)]
    processes = [
        subprocess.Popen(
            [str(scorecast), *common, "--shard", f"{i}/{count}", *(["--workers", "2"] if i == 0 else [])],
            env={**worker_env(settings), "XDG_CACHE_HOME": cache},  # the label cache's default folder
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(count)
    ]
    for i, process in enumerate(processes):
        out, _ = process.communicate(timeout=120)
        assert process.returncode == 0, f"shard {i}: {out}"
        assert f"part-{i}-of-{count}.parquet" in out.replace("\n", "")


def same_findings(one: Findings, merged: Findings) -> None:
    assert merged.overall == one.overall
    assert repr(merged.over_time) == repr(one.over_time)  # an empty slice's mean is nan, never == itself
    for key, drift in one.feature_drift.items():
        other = merged.feature_drift[key]
        assert (drift is None) == (other is None)
        if drift is not None and other is not None:
            assert np.array_equal(drift.psi, other.psi, equal_nan=True)
    # the report itself, but for the replay time it states
    assert render(dataclasses.replace(merged, seconds=0.0)) == render(dataclasses.replace(one, seconds=0.0))


@pytest.mark.parametrize(
    "bounds",
    [
        pytest.param(None, id="whole-partitions"),  # 4 partitions over 3 shards
        pytest.param(("0:0,1:0", "latest"), id="offset-ranges"),  # 2 partitions cut into 3 offset ranges
        pytest.param(("0:0,1:0", "0:2,1:0"), id="more-shards-than-events"),  # shard 2 writes an empty part
    ],
)
def test_three_shards_merged_equal_one_process_row_for_row(
    registered: list[ModelVersion],
    produce: Produce,
    replay: Replay,
    pipeline_settings: Settings,
    tmp_path: Path,
    bounds: tuple[str, str] | None,
) -> None:
    produced = produce(6_000)
    start, end = bounds or produced.window
    models = every_version(registered)
    one = replay(start, end, models, name="one")
    parts = tmp_path / "parts"
    run_shards(pipeline_settings, 3, start, end, models, str(parts), str(tmp_path / "cache"))
    assert sorted(p.name for p in parts.iterdir()) == [f"part-{i}-of-3.parquet" for i in range(3)]

    table = tmp_path / "merged.parquet"
    merged = merge_parts(pipeline_settings, str(parts), tmp_path / "report.html", table)
    expected = pq.read_table(one.results)
    assert expected.num_rows == one.findings.events * len(models) > 0
    assert pq.read_table(table).equals(expected)
    same_findings(one.findings, merged.findings)
    assert merged.findings.range == one.findings.range
    assert (tmp_path / "report.html").read_text().count("data:image/png;base64,") >= 4
    if bounds is None:  # the command prints the summary a one-process replay prints
        scorecast = Path(sys.executable).with_name("scorecast")
        command = [str(scorecast), "replay", "merge", "--results", str(parts), "--out", str(tmp_path / "cli.html")]
        done = subprocess.run(command, env={**worker_env(pipeline_settings), "COLUMNS": "200"}, capture_output=True,
                              text=True, timeout=120, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert f"replayed {one.findings.events:,} events" in done.stdout
        assert f"parts: 3 at {parts}" in done.stdout
        assert (tmp_path / "cli.html").exists()


def test_an_interrupted_shard_writes_no_part_and_its_rerun_continues(
    registered: list[ModelVersion], produce: Produce, pipeline_settings: Settings, tmp_path: Path
) -> None:
    produced = produce(12_000)
    models = every_version(registered)
    shard = Shard(1, 2)

    def run(store: ResultStore, **options: Any) -> ShardOutcome:
        request = ReplayRequest(STREAM, *produced.window, models, checkpoint_base(store, shard), batch=1_000,
                                flush_events=2_000)  # fmt: skip
        return run_shard(pipeline_settings, request, shard, store, **options)

    straight = ResultStore(str(tmp_path / "straight"))
    run(straight)
    store = ResultStore(str(tmp_path / "parts"))
    stop = threading.Event()
    with pytest.raises(ReplayInterruptedError, match="rerun the same command to continue"):
        run(store, progress=StopAfter(2_500, stop), stop=stop)
    assert store.names() == []  # nothing a merge could take for this shard's share
    assert checkpoint_base(store, shard).with_name(".part-1-of-2.checkpoint").is_dir()

    outcome = run(store)
    assert outcome.rows > 2_500
    assert store.read("part-1-of-2.parquet").equals(straight.read("part-1-of-2.parquet"))
    assert store.record("part-1-of-2.parquet").covered == straight.record("part-1-of-2.parquet").covered
    assert [p.name for p in (tmp_path / "parts").iterdir()] == ["part-1-of-2.parquet"]  # the checkpoint is gone
