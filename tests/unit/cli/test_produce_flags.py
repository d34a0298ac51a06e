"""`scorecast produce` drift flags: misuse is a ConfigError (one line, exit 1 from `scorecast`), raised before
anything is sent."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from scorecast.app.cli import app
from scorecast.errors import ConfigError


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--file", "events.jsonl", "--drift-at", "5"], "need --synthetic"),
        (["--synthetic", "10", "--shift", "amount=1"], "--shift needs --drift-at"),
        (["--synthetic", "10", "--drift-at", "5", "--shift", "amount"], "expected feature=standard deviations"),
        (["--synthetic", "10", "--drift-at", "5", "--shift", "channel=1"], "cannot shift 'channel'"),
    ],
)
def test_drift_flags_are_checked_before_sending(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["produce", "--stream", "transactions", *args])
    assert isinstance(result.exception, ConfigError)
    assert message in str(result.exception)
