"""The CLI's error boundary: invalid settings and scorecast errors end as one line and exit 1."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from scorecast.app.cli import _fail, settings_error
from scorecast.errors import ServiceUnavailableError
from scorecast.settings import Settings


def test_invalid_settings_name_the_variable_and_what_it_must_be(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCORECAST_INFRA_BACKEND", "bogus")
    monkeypatch.setenv("SCORECAST_TOPIC_PARTITIONS", "0")
    with pytest.raises(ValidationError) as caught:
        Settings()
    message = str(settings_error(caught.value))
    assert message.startswith("invalid setting ")
    assert "SCORECAST_INFRA_BACKEND='bogus': Input should be 'local', 'testcontainers' or 'external'" in message
    assert "SCORECAST_TOPIC_PARTITIONS" in message
    assert "\n" not in message


def test_an_error_is_one_line_on_stderr_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        _fail(ServiceUnavailableError("Kafka at h:1", "SCORECAST_KAFKA_BOOTSTRAP", "refused\n(after 0ms)"))
    assert caught.value.code == 1
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err == "error: Kafka at h:1 unreachable (refused (after 0ms)); check SCORECAST_KAFKA_BOOTSTRAP\n"
