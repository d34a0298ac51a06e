"""Process set-up shared by every worker: the log level comes from SCORECAST_LOG_LEVEL."""

from __future__ import annotations

import logging

import pytest

from scorecast.process import log_level


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, logging.INFO),
        ("debug", logging.DEBUG),
        ("WARNING", logging.WARNING),
        ("15", 15),
        ("nonsense", logging.INFO),
    ],
)
def test_the_log_level_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str | None, expected: int
) -> None:
    if value is None:
        monkeypatch.delenv("SCORECAST_LOG_LEVEL", raising=False)
    else:
        monkeypatch.setenv("SCORECAST_LOG_LEVEL", value)
    assert log_level() == expected
