"""`scorecast schemas register` and `check` with SCORECAST_SCHEMA_REGISTRY_URL set use the registry.

They run against tests/schema_registry_double.py (no real registry can run here; its docstring says why).
Before, both commands used the committed ids whatever the URL: `register` exited 0 and left ``/subjects``
empty, and `check` passed a schema the registry would refuse.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from schemas.cli import app
from schemas.errors import IncompatibleSchemaError
from schemas.registry import KIND_SCHEMAS, load_schema_file
from scorecast.errors import ConfigError, ServiceUnavailableError
from tests.certificates import TestAuthority
from tests.schema_registry_double import SchemaRegistryDouble, schema_registry_double

RECORD_NAMES = {
    "scorecast.streams.transactions.TransactionEvent",
    "scorecast.predictions.Prediction",
    "scorecast.labels.Label",
    "scorecast.deadletters.DeadLetter",
    "scorecast.signals.Signal",
}


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[SchemaRegistryDouble]:
    for variable in ("SCORECAST_TOPIC_PREFIX", "SCORECAST_SCHEMA_REGISTRY_SUBJECT_STRATEGY"):
        monkeypatch.delenv(variable, raising=False)
    with schema_registry_double() as double:
        monkeypatch.setenv("SCORECAST_SCHEMA_REGISTRY_URL", double.url)
        yield double


def _run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def test_register_puts_each_topics_subject_in_the_registry_with_the_modes_level(
    registry: SchemaRegistryDouble,
) -> None:
    result = _run("register", "--stream", "transactions")
    assert result.exit_code == 0, result.output
    subjects = {f"transactions.{kind}-value" for kind in KIND_SCHEMAS}
    assert set(registry.state.subjects) == subjects
    assert {registry.state.levels[s] for s in subjects} == {"FULL"}
    events = registry.state.subjects["transactions.events-value"]
    assert json.loads(registry.state.schemas[events[0]]) == load_schema_file("transactions.events")
    # the predictions schema is one schema under two subjects: one id, as Confluent's registry gives
    assert (
        registry.state.subjects["transactions.predictions-value"]
        == registry.state.subjects["transactions.shadow-predictions-value"]
    )

    again = _run("register", "--stream", "transactions")
    assert again.exit_code == 0, again.output
    assert "registered as" not in again.output
    assert again.output.count("unchanged") == len(subjects)
    assert {registry.versions(s) for s in subjects} == {1}


def test_register_follows_the_record_name_strategy(
    registry: SchemaRegistryDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCORECAST_SCHEMA_REGISTRY_SUBJECT_STRATEGY", "RecordNameStrategy")
    assert _run("register").exit_code == 0
    assert set(registry.state.subjects) == RECORD_NAMES


def test_register_only_named_schemas_under_the_topic_record_strategy(
    registry: SchemaRegistryDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCORECAST_SCHEMA_REGISTRY_SUBJECT_STRATEGY", "TopicRecordNameStrategy")
    monkeypatch.setenv("SCORECAST_TOPIC_PREFIX", "prod.")
    assert _run("register", "labels").exit_code == 0
    assert set(registry.state.subjects) == {"prod.transactions.labels-scorecast.labels.Label"}


def test_register_refuses_a_subject_whose_own_level_enforces_less(registry: SchemaRegistryDouble) -> None:
    registry.state.levels["transactions.labels-value"] = "BACKWARD"
    result = _run("register", "labels")
    assert isinstance(result.exception, ConfigError)
    assert "has compatibility BACKWARD" in str(result.exception)
    assert "transactions.labels-value" not in registry.state.subjects

    registry.state.levels["transactions.labels-value"] = "FULL_TRANSITIVE"  # stricter than asked: kept
    assert _run("register", "labels").exit_code == 0
    assert registry.state.levels["transactions.labels-value"] == "FULL_TRANSITIVE"


def _incompatible_labels(registry: SchemaRegistryDouble) -> None:
    """An earlier labels version that had a field without default: the current file cannot be FULL with it."""
    older = load_schema_file("labels")
    older["fields"].append({"name": "reviewer", "type": "string"})
    registry.state.schemas[90] = json.dumps(older)
    registry.state.subjects["transactions.labels-value"] = [90]
    registry.state.levels["transactions.labels-value"] = "FULL"


def test_check_fails_with_the_registrys_message_on_an_incompatible_change(registry: SchemaRegistryDouble) -> None:
    assert _run("register", "--stream", "transactions").exit_code == 0
    clean = _run("check")
    assert clean.exit_code == 0, clean.output
    assert clean.output.count("registered") == len(KIND_SCHEMAS)

    _incompatible_labels(registry)
    result = _run("check")
    assert result.exit_code != 0
    assert isinstance(result.exception, IncompatibleSchemaError)
    assert "transactions.labels-value" in str(result.exception)
    assert re.search(r"^transactions\.labels-value +incompatible", result.output, re.MULTILINE)
    assert "reviewer" in result.output  # the registry's own reason, as it gave it


def test_register_refuses_an_incompatible_change_with_the_reason(registry: SchemaRegistryDouble) -> None:
    _incompatible_labels(registry)
    result = _run("register", "labels")
    assert isinstance(result.exception, IncompatibleSchemaError)
    assert "reviewer" in str(result.exception)
    assert registry.versions("transactions.labels-value") == 1


def test_check_without_auto_register_fails_on_an_unregistered_schema(
    registry: SchemaRegistryDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok = _run("check")
    assert ok.exit_code == 0, ok.output  # producers would register them: nothing to fix yet
    assert ok.output.count(" new ") == len(KIND_SCHEMAS)
    monkeypatch.setenv("SCORECAST_SCHEMA_REGISTRY_AUTO_REGISTER", "false")
    assert _run("check").exit_code != 0
    assert _run("register").exit_code == 0
    assert _run("check").exit_code == 0


def test_credentials_are_sent_and_their_absence_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with schema_registry_double(username="ci", password="s3cret") as double:
        monkeypatch.setenv("SCORECAST_SCHEMA_REGISTRY_URL", double.url)
        refused = _run("check")
        assert isinstance(refused.exception, ConfigError)
        assert "SCORECAST_SCHEMA_REGISTRY_USERNAME" in str(refused.exception)
        monkeypatch.setenv("SCORECAST_SCHEMA_REGISTRY_USERNAME", "ci")
        monkeypatch.setenv("SCORECAST_SCHEMA_REGISTRY_PASSWORD", "s3cret")
        assert _run("register", "labels").exit_code == 0
        assert "transactions.labels-value" in double.state.subjects
    monkeypatch.delenv("SCORECAST_SCHEMA_REGISTRY_USERNAME")
    with schema_registry_double(token="t0ken") as double:
        monkeypatch.setenv("SCORECAST_SCHEMA_REGISTRY_URL", double.url)
        monkeypatch.setenv("SCORECAST_SCHEMA_REGISTRY_TOKEN", "t0ken")
        assert _run("register", "labels").exit_code == 0
        assert "transactions.labels-value" in double.state.subjects


def test_an_https_registry_is_trusted_through_the_ca_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    authority = TestAuthority(tmp_path)
    issued = authority.issue("registry")
    with schema_registry_double(tls=(issued.cert, issued.key)) as double:
        monkeypatch.setenv("SCORECAST_SCHEMA_REGISTRY_URL", double.url)
        untrusted = _run("register", "labels")
        assert isinstance(untrusted.exception, ServiceUnavailableError)
        assert "CERTIFICATE_VERIFY_FAILED" in str(untrusted.exception)
        monkeypatch.setenv("SCORECAST_SCHEMA_REGISTRY_CA_FILE", str(authority.ca_file))
        assert _run("register", "labels").exit_code == 0
        assert "transactions.labels-value" in double.state.subjects
