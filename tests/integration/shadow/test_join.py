"""Champion and challengers score the same events on separate paths; the joiner puts them side by side."""

from __future__ import annotations

from scorecast.app.produce_cli import produce_synthetic
from scorecast.settings import Settings
from scorers.registry import ModelVersion
from tests.integration.shadow.conftest import Spawn, finish, join_all, query


def test_every_challenger_prediction_is_joined_with_the_champions(
    pipeline_settings: Settings, registered: list[ModelVersion], spawn: Spawn
) -> None:
    settings = pipeline_settings
    n = 5_000
    produce_synthetic(settings, "transactions", count=n, seed=5, labels=False)
    champion = spawn("score", "--idle-exit", "5")
    tee = spawn("shadow-tee", "--idle-exit", "5")
    challengers = spawn("challengers", "--idle-exit", "10")
    for process in (champion, tee, challengers):
        finish(process)
    stats = join_all(settings)
    assert (stats.received, stats.joined, stats.unmatched, stats.champion_missing) == (2 * n, 2 * n, 0, 0)

    versions = {v.metrics["kind"]: v.version for v in registered}
    rows = query(
        settings,
        "SELECT challenger_version, event_id, champion_version, champion_score, challenger_score, "
        "toUnixTimestamp(produced_at), toUnixTimestamp(champion_scored_at), toUnixTimestamp(challenger_scored_at) "
        "FROM shadow_results",
    )
    assert len(rows) == 2 * n
    by_version: dict[object, dict[object, tuple[object, ...]]] = {}
    for row in rows:
        by_version.setdefault(row[0], {})[row[1]] = row
    assert set(by_version) == {versions["mlp"], versions["logistic"]}
    stored = {
        (version, event_id): score
        for version, event_id, score in query(settings, "SELECT version, event_id, score FROM predictions")
    }
    for version, joined in by_version.items():
        assert len(joined) == n
        for event_id, row in joined.items():
            assert row[2] == versions["lightgbm"]
            assert row[3] == stored[(versions["lightgbm"], event_id)]
            assert row[4] == stored[(version, event_id)]
            produced, champion_at, challenger_at = (int(str(t)) for t in row[5:8])
            assert champion_at >= produced
            assert challenger_at >= produced
