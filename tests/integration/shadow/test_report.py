"""Acceptance: champion + 2 challengers on 100k events; every challenger prediction joined; the report's
numbers equal a direct computation (scikit-learn, scipy) on the stored rows and the labels topic."""

from __future__ import annotations

import base64
import subprocess
import sys
from html import escape
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import brier_score_loss, log_loss, precision_score, recall_score, roc_auc_score

from schemas.codec import AvroCodec
from schemas.registry import open_store
from scorecast.app.produce_cli import produce_synthetic
from scorecast.settings import Settings
from scorers.registry import ModelVersion
from shadow.render import overview, side_by_side
from shadow.report import Comparison, ReportConfig, build_report
from tests.integration.pipeline.conftest import worker_env
from tests.integration.shadow.conftest import Spawn, finish, query, read_topic

N = 100_000
RESAMPLES = 300


def direct_labels(settings: Settings) -> dict[str, int]:
    topic = settings.topic("transactions", "labels")
    codec = AvroCodec(open_store(settings), topic, "labels")
    return {r["event_id"]: r["label"] for r in (codec.decode(m.value() or b"") for m in read_topic(settings, topic))}


def check_against_rows(c: Comparison, rows: list[tuple[object, ...]], labels: dict[str, int]) -> None:
    """Recompute every number of ``c`` from the rows as stored, with independent code."""
    event_ids = [str(r[1]) for r in rows]
    a = np.array([r[2] for r in rows], dtype=np.float64)
    b = np.array([r[3] for r in rows], dtype=np.float64)
    produced, champion_at, challenger_at = (np.array([r[i] for r in rows], dtype=np.float64) for i in (4, 5, 6))
    assert len(c.rows) == len(rows) == N
    assert c.thresholds == (0.5, 0.5)
    assert c.agreement.rate == pytest.approx(np.mean((a >= 0.5) == (b >= 0.5)), abs=1e-12)
    assert c.agreement.flips_up == int(np.sum((a < 0.5) & (b >= 0.5)))
    assert c.agreement.flips_down == int(np.sum((a >= 0.5) & (b < 0.5)))
    assert c.pearson[0] == pytest.approx(stats.pearsonr(a, b).statistic, rel=1e-9)
    assert c.spearman[0] == pytest.approx(stats.spearmanr(a, b).statistic, rel=1e-9)
    for summary, values in ((c.champion_scores, a), (c.challenger_scores, b)):
        assert summary.n == N
        assert summary.mean == pytest.approx(values.mean(), rel=1e-12)
        assert [summary.p50, summary.p95, summary.p99] == pytest.approx(np.quantile(values, [0.5, 0.95, 0.99]))
    for latency, scored in ((c.champion_latency_ms, champion_at), (c.challenger_latency_ms, challenger_at)):
        assert latency is not None
        assert [latency.p50, latency.p95, latency.p99] == pytest.approx(
            np.quantile(scored - produced, [0.5, 0.95, 0.99])
        )
    y = np.array([labels[e] for e in event_ids])  # every synthetic event has its label on the topic
    assert (c.labelled, c.positives) == (N, int(y.sum()))
    assert c.metrics is not None
    expected = {
        "auc": (roc_auc_score(y, a), roc_auc_score(y, b)),
        "log_loss": (log_loss(y, a, labels=[0, 1]), log_loss(y, b, labels=[0, 1])),
        "brier": (brier_score_loss(y, a), brier_score_loss(y, b)),
        # A model that flags nothing has no precision: n/a in the report, NaN here.
        "precision": tuple(precision_score(y, s >= 0.5, zero_division=np.nan) for s in (a, b)),
        "recall": (recall_score(y, a >= 0.5), recall_score(y, b >= 0.5)),
    }
    for name, (champion, challenger) in expected.items():
        got = c.metrics.metrics[name]
        assert got[0].estimate == pytest.approx(champion, rel=1e-9, nan_ok=True), name
        assert got[1].estimate == pytest.approx(challenger, rel=1e-9, nan_ok=True), name
        assert got[2].estimate == pytest.approx(challenger - champion, rel=1e-6, abs=1e-12, nan_ok=True), name
        for interval in got:
            if np.isfinite(interval.estimate):  # degenerate (low = high) when a model flags nothing
                assert interval.low <= interval.estimate <= interval.high, name


@pytest.mark.slow
def test_two_challengers_on_100k_events_are_joined_and_reported(
    pipeline_settings: Settings, registered: list[ModelVersion], spawn: Spawn, tmp_path: Path
) -> None:
    settings = pipeline_settings
    produce_synthetic(settings, "transactions", count=N, seed=11, labels=True)
    workers = [
        spawn("score", "--idle-exit", "15"),
        spawn("shadow-tee", "--idle-exit", "15"),
        spawn("challengers", "--idle-exit", "30"),
        spawn("shadow-join", "--idle-exit", "30"),
    ]
    outputs = [" ".join(finish(process, timeout_s=900).split()) for process in workers]  # rich wraps lines
    assert f"joined {2 * N} of {2 * N} challenger predictions; 0 not scored by the champion, 0 unmatched" in outputs[3]

    versions = {v.metrics["kind"]: v.version for v in registered}
    stored = query(
        settings,
        "SELECT challenger_version, event_id, champion_score, challenger_score, toUnixTimestamp(produced_at), "
        "toUnixTimestamp(champion_scored_at), toUnixTimestamp(challenger_scored_at) FROM shadow_results",
    )
    by_version: dict[object, list[tuple[object, ...]]] = {}
    for row in stored:
        by_version.setdefault(row[0], []).append(row)
    assert {v: len(rows) for v, rows in by_version.items()} == {versions["mlp"]: N, versions["logistic"]: N}

    report = build_report(settings, ReportConfig(model="fraud", stream="transactions", resamples=RESAMPLES))
    pairs = [(c.champion_version, c.challenger_version) for c in report.comparisons]
    assert pairs == sorted((versions["lightgbm"], versions[k]) for k in ("mlp", "logistic"))
    labels = direct_labels(settings)
    for c in report.comparisons:
        check_against_rows(c, by_version[c.challenger_version], labels)

    out = tmp_path / "report.html"
    scorecast = Path(sys.executable).with_name("scorecast")
    done = subprocess.run(
        [str(scorecast), "shadow", "report", "--model", "fraud", "--out", str(out), "--resamples", str(RESAMPLES)],
        env=worker_env(settings), capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"challenger v{versions['mlp']} vs champion v{versions['lightgbm']}" in done.stdout
    page = out.read_text()
    assert "http://" not in page
    assert "https://" not in page
    images = page.split("data:image/png;base64,")[1:]
    assert len(images) == 4 * len(report.comparisons)  # distributions, scatter, latency, ROC
    assert all(base64.b64decode(i.split("'", 1)[0]).startswith(b"\x89PNG") for i in images)
    for c in report.comparisons:  # the page shows the very numbers checked above (same seed, same rows)
        for what, value in overview(c):
            assert f"<th>{escape(what)}</th><td>{escape(value)}</td>" in page
        for cells in side_by_side(c):
            assert "".join(f"<td>{escape(x)}</td>" for x in cells) in page
