"""The HTML report is one self-contained file: every plot embedded, nothing fetched from elsewhere."""

from __future__ import annotations

import re

from scorers.registry import ModelVersion
from scorers.replay.findings import find
from scorers.replay.ranges import PartitionRange, ReplayRange
from scorers.replay.report import render
from scorers.replay.results import Backtest


def test_the_report_embeds_its_plots_and_tables(backtest: Backtest, versions: list[ModelVersion]) -> None:
    replay = ReplayRange("t.events", (PartitionRange(0, 0, 24_000),), 1_767_225_600_000, 1_767_225_700_000)
    page = render(find("transactions", replay, 7 * 86_400_000, backtest, versions))
    images = re.findall(r'<img alt="" src="data:image/png;base64,([A-Za-z0-9+/=]+)">', page)
    # metrics over time, calibration, scores, score drift, one feature heatmap (fraud@2 has no profile)
    assert len(images) == 5
    assert all(len(i) > 1000 for i in images)
    assert not re.search(r'(src|href)="(?!data:)', page)
    for text in ("fraud@1", "fraud@2", "AUC", "bad-header: 2", "no reference profile", "amount", "168 h horizon"):
        assert text in page
    assert "<script" not in page
