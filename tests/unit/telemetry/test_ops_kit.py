"""The shipped operations kit (infra/observability) against what the code exports, without network.

Every metric an alert rule or a dashboard panel queries must be one the code declares, under the name the
Prometheus exporter gives it; the dashboard must be well-formed Grafana JSON; every alert has a runbook
section in docs/operations.md.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML ships no stubs

from lookup_api.observability import Metrics

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
KIT = ROOT / "infra" / "observability"
RULES = KIT / "prometheus" / "scorecast-alerts.yml"
DASHBOARD = KIT / "grafana" / "scorecast-dashboard.json"
OPERATIONS = ROOT / "docs" / "operations.md"

_PROMQL_WORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool"}


def _otel_names() -> set[str]:
    """Series names of the OpenTelemetry instruments declared in the source, as the Prometheus exporter writes
    them: a unit of seconds adds ``_seconds``, a counter ``_total``, a histogram ``_bucket``/``_sum``/``_count``."""
    names: set[str] = set()
    for package in ("scorecast", "scorers", "streams", "shadow"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                    continue
                kind = node.func.attr.removeprefix("create_")
                if kind not in ("counter", "histogram", "gauge", "up_down_counter") or not node.args:
                    continue
                if not isinstance(node.args[0], ast.Constant) or not isinstance(node.args[0].value, str):
                    continue
                unit = next((k.value.value for k in node.keywords if k.arg == "unit"), "")  # type: ignore[attr-defined]
                name = node.args[0].value
                if unit == "s" and not name.endswith("_seconds"):
                    name += "_seconds"
                if kind == "counter":
                    names.add(name if name.endswith("_total") else name + "_total")
                elif kind == "histogram":
                    names.update(f"{name}_{suffix}" for suffix in ("bucket", "sum", "count"))
                else:
                    names.add(name)
    return names


def _api_names() -> set[str]:
    """The lookup API's series (prometheus_client; a labelled metric has no samples before its first use)."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    return {f"{f.name}{suffix}" for f in Metrics(dict).registry.collect() for suffix in suffixes.get(f.type, ("",))}


EXPORTED = _otel_names() | _api_names()


def metric_names(expr: str) -> set[str]:
    """The series names a PromQL expression selects (label matchers, grouping labels and functions left out)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    found = set()
    for match in re.finditer(r"(?<![\w$.])([a-zA-Z_:][\w:]*)\s*(\()?", expr):
        word, call = match.group(1), match.group(2)
        if call or word in _PROMQL_WORDS:
            continue
        found.add(word)
    return found


def _rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def _anchors() -> set[str]:
    headings = re.findall(r"^#+\s+(.+)$", OPERATIONS.read_text(encoding="utf-8"), flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings}


def test_the_expression_parser_finds_series_and_skips_functions_and_labels() -> None:
    expr = 'histogram_quantile(0.99, sum by (le, alias) (rate(a_seconds_bucket{route=~"/v1/x"}[5m]))) > 1 and b > 0'
    assert metric_names(expr) == {"a_seconds_bucket", "b"}


def test_the_scorer_declares_the_series_the_kit_relies_on() -> None:
    assert {"scorecast_scoring_duration_seconds_bucket", "scorecast_events_scored_total"} <= EXPORTED
    assert "scorecast_api_request_duration_seconds_bucket" in EXPORTED


def test_every_alert_rule_queries_exported_metrics_and_has_a_runbook() -> None:
    rules = _rules()
    assert len(rules) >= 5
    anchors = _anchors()
    for rule in rules:
        assert rule["alert"].startswith("Scorecast"), rule
        names = metric_names(rule["expr"])
        assert names, rule["alert"]
        assert names <= EXPORTED, (rule["alert"], names - EXPORTED)
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        page, _, anchor = rule["annotations"]["runbook"].partition("#")
        assert page == "docs/operations.md"
        assert anchor in anchors, (rule["alert"], anchor)
    assert len({r["alert"] for r in rules}) == len(rules)


def test_the_dashboard_is_well_formed_and_queries_exported_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["uid"]
    assert dashboard["title"]
    assert isinstance(dashboard["schemaVersion"], int)
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert all(isinstance(grid[k], int) for k in ("h", "w", "x", "y")), panel["title"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        columns, rows = range(grid["x"], grid["x"] + grid["w"]), range(grid["y"], grid["y"] + grid["h"])
        mine = {(x, y) for x in columns for y in rows}
        assert not mine & cells, f"{panel['title']} overlaps another panel"
        cells |= mine
        assert panel["type"] in ("timeseries", "stat", "table", "gauge", "bargauge"), panel["title"]
        targets = panel["targets"]
        assert targets
        assert len({t["refId"] for t in targets}) == len(targets)
        for target in targets:
            names = metric_names(target["expr"])
            assert names, panel["title"]
            assert names <= EXPORTED, (panel["title"], names - EXPORTED)
            used = set(re.findall(r"\$(\w+)", target["expr"])) - {"__rate_interval", "__range", "__interval"}
            assert used <= variables, (panel["title"], used - variables)
