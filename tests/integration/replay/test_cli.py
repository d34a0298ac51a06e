"""`scorecast replay` through the CLI's main(): a report and a summary, or one clear line and exit 1."""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient

from scorecast.app.cli import main
from scorecast.settings import Settings
from scorers.registry import ModelVersion
from scorers.replay.checkpoint import Checkpoint, Manifest
from scorers.replay.ranges import PartitionRange, ReplayRange
from tests.integration.pipeline.conftest import worker_env
from tests.integration.replay.conftest import STREAM, Produce


@pytest.fixture
def cli(pipeline_settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name, value in worker_env(pipeline_settings).items():
        if name.startswith("SCORECAST_"):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the label and event caches' default folder
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def run(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["scorecast", "replay", "--stream", STREAM, *args])
    try:
        main()
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


def test_a_replay_writes_results_and_a_report_and_prints_a_summary(
    registered: list[ModelVersion], produce: Produce, cli: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    produced = produce(5_000)
    start, end = produced.window
    models = ("--model", "fraud@champion", "--model", "fraud@3")
    outputs = ("--results", "out/r.parquet", "--out", "out/report.html")
    code = run(cli, "--from", start, "--to", end, *models, "--workers", "2", *outputs)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "replayed 5,000 events" in out
    assert "fraud@1" in out
    assert "fraud@3" in out
    assert "report: out/report.html" in out
    table = pq.read_table("out/r.parquet")
    assert table.column_names == [
        "event_id", "entity_id", "event_time", "partition", "offset", "model", "version", "score", "label"
    ]  # fmt: skip
    assert table.num_rows == 10_000
    assert Path("out/report.html").read_text().count("data:image/png;base64,") >= 4
    assert not Path("out/r.parquet.checkpoint").exists()
    assert list(Path("cache/scorecast/replay-labels").rglob("*.arrow"))  # the labels kept for the next replay
    assert list(Path("cache/scorecast/replay-events").rglob("*.arrow"))  # and the decoded events
    code = run(cli, "--from", start, "--to", end, *models, "--no-event-cache", "--results", "again.parquet")
    assert code == 0, capsys.readouterr().out
    assert pq.read_table("again.parquet").equals(table)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--from", "earliest", "--to", "latest", "--model", "fraud@99"), "unknown version fraud@99"),
        (("--from", "earliest", "--to", "latest", "--model", "nope@1"), "unknown model 'nope'"),
        (("--from", "latest", "--to", "latest", "--model", "fraud@1"), "empty range"),
        (("--from", "2030-01-02T00:00:00Z", "--to", "2030-01-01T00:00:00Z", "--model", "fraud@1"), "is after --to"),
        (("--from", "0:300", "--to", "0:10", "--model", "fraud@1"), "is after --to"),
        (("--from", "0:1,1:1", "--to", "0:10", "--model", "fraud@1"), "names partitions"),
        (("--from", "tomorrow", "--to", "latest", "--model", "fraud@1"), "--from 'tomorrow' is neither"),
        (("--from", "earliest", "--to", "latest", "--model", "fraud"), "must be NAME@VERSION"),
        (("--from", "0", "--to", "99999", "--model", "fraud@1"), "beyond its end"),
        (("--from", "0", "--to", "latest", "--model", "fraud@1", "--label-horizon", "soon"), "not a duration"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_1(
    registered: list[ModelVersion],
    produce: Produce,
    cli: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    message: str,
) -> None:
    produce(1_000, labels=False)
    code = run(cli, *args)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1, err
    assert err[0].startswith("error: ")
    assert message in err[0]


def test_a_range_outside_retention_is_refused(
    pipeline_settings: Settings,
    registered: list[ModelVersion],
    produce: Produce,
    cli: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    produced = produce(2_000, labels=False)
    topic = pipeline_settings.topic(STREAM, "events")
    admin = AdminClient(pipeline_settings.kafka_config())
    for future in admin.delete_records([TopicPartition(topic, 0, 100)]).values():
        future.result(timeout=30)  # what retention does: partition 0 now starts at offset 100
    for start in ("0", produced.window[0]):
        assert run(cli, "--from", start, "--to", "latest", "--model", "fraud@1") == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1
        assert "outside retention" in err[0]
    assert run(cli, "--from", "0:100,1:0", "--to", "latest", "--model", "fraud@1", "--results", "r.parquet") == 0


def test_a_checkpoint_of_another_replay_is_not_continued(
    registered: list[ModelVersion], produce: Produce, cli: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    produce(1_000, labels=False)
    other = {"stream": STREAM, "from": "0", "to": "10", "models": ["fraud@1"], "horizon_ms": 1}
    Checkpoint.for_results(Path("r.parquet")).start(
        Manifest(other, ReplayRange("t", (PartitionRange(0, 0, 10),), 0, 1), None, ())
    )
    assert run(cli, "--from", "earliest", "--to", "latest", "--model", "fraud@1", "--results", "r.parquet") == 1
    assert "holds an unfinished replay of another request" in capsys.readouterr().err
