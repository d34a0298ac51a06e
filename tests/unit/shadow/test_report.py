"""The report from joined rows: grouping, label alignment, and the terminal and HTML renderings."""

from __future__ import annotations

import base64
from html import escape

import numpy as np
import pytest
from rich.console import Console

from shadow.plots import figures, roc_curve
from shadow.render import overview, print_summary, side_by_side, to_html
from shadow.report import ReportConfig, ShadowReport, compare
from shadow.results import JoinedColumns


def joined(n: int, seed: int = 0, champion_versions: tuple[int, ...] = (1,)) -> JoinedColumns:
    rng = np.random.default_rng(seed)
    a = rng.random(n)
    latency = rng.exponential(20.0, n)
    latency[::10] = np.nan  # rows whose origin is unknown
    return JoinedColumns(
        challenger_version=3,
        event_ids=[f"e{i}" for i in range(n)],
        entity_ids=[f"card-{i % 50}" for i in range(n)],
        event_times=np.arange(n, dtype=np.int64) * 1000,
        champion_versions=np.array([champion_versions[i % len(champion_versions)] for i in range(n)]),
        champion_scores=a,
        challenger_scores=np.clip(a + rng.normal(0, 0.1, n), 0, 1),
        champion_latency_ms=latency,
        challenger_latency_ms=latency + 5,
    )


def labels_for(rows: JoinedColumns, every: int, seed: int = 1) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    return {
        e: int(rng.random() < s) for e, s in zip(rows.event_ids, rows.champion_scores, strict=True)
    } if every == 1 else {e: int(rng.random() < 0.3) for e in rows.event_ids[::every]}  # fmt: skip


def test_rows_are_compared_per_champion_version_with_their_own_labels() -> None:
    rows = joined(2_000, champion_versions=(1, 2))
    labels = labels_for(rows, every=3)  # some rows of each champion version, not all
    first, second = compare(rows, labels, ReportConfig(model="fraud", stream="transactions", resamples=100))
    assert (first.champion_version, second.champion_version) == (1, 2)
    assert len(first.rows) == len(second.rows) == 1_000
    for c in (first, second):
        assert c.labels.tolist() == [labels.get(e, -1) for e in c.rows.event_ids]
        assert 0 < c.labelled == sum(e in labels for e in c.rows.event_ids) < len(c.rows)
        assert c.metrics is not None
        assert c.champion_latency_ms is not None
        assert c.champion_latency_ms.n == int(np.isfinite(c.rows.champion_latency_ms).sum())


def test_no_labelled_metrics_without_both_classes() -> None:
    rows = joined(500)
    (c,) = compare(
        rows, dict.fromkeys(rows.event_ids, 0), ReportConfig(model="fraud", stream="transactions", resamples=100)
    )
    assert (c.labelled, c.positives, c.metrics) == (500, 0, None)
    assert all("auc" not in cells[0] for cells in side_by_side(c))


def test_the_terminal_and_the_page_show_the_same_cells_and_the_page_is_self_contained() -> None:
    rows = joined(3_000)
    (c,) = compare(
        rows, labels_for(rows, every=1), ReportConfig(model="fraud", stream="transactions", resamples=100, top_rate=0.1)
    )
    report = ShadowReport(
        ReportConfig(model="fraud", stream="transactions", top_rate=0.1), [c], 3_000, 2, 1_700_000_000_000
    )
    console = Console(record=True, width=200)
    print_summary(report, console)
    text = console.export_text()
    page = to_html(report, [figures(c)])
    for what, value in overview(c) + [(row[0], row[2]) for row in side_by_side(c)]:
        assert what in text
        assert value in text
    for cells in side_by_side(c):
        assert "".join(f"<td>{escape(x)}</td>" for x in cells) in page
    assert "2 undecodable" in page
    assert np.mean(c.rows.champion_scores >= c.thresholds[0]) == pytest.approx(0.1, abs=1e-3)
    assert "http://" not in page
    assert "https://" not in page
    pngs = [chunk.split("'", 1)[0] for chunk in page.split("data:image/png;base64,")[1:]]
    assert len(pngs) == 4
    assert all(base64.b64decode(png).startswith(b"\x89PNG\r\n\x1a\n") for png in pngs)


def test_roc_curve_ends_at_the_corners_and_is_monotone() -> None:
    y = np.array([1, 0, 1, 1, 0, 0, 1, 0])
    s = np.array([0.9, 0.8, 0.8, 0.6, 0.5, 0.3, 0.2, 0.1])
    fpr, tpr = roc_curve(y, s)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0)
    assert np.all(np.diff(tpr) >= 0)
    assert len(fpr) == len(np.unique(s)) + 1  # tied scores are one point
    assert np.trapezoid(tpr, fpr) == pytest.approx(0.71875)  # = scikit-learn's roc_auc_score on these
