"""The offline manifest validator of `make deploy-check`: it must refuse what the API server would refuse or
silently drop, and never pass a kind it has no schema for. Skipped without kubernetes-validate (which brings
jsonschema); `make deploy-check` installs it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.deploy.validate_manifests import strict, validate

pytest.importorskip("kubernetes_validate")

SCALED_OBJECT: dict[str, Any] = {
    "apiVersion": "keda.sh/v1alpha1",
    "kind": "ScaledObject",
    "metadata": {"name": "scorer"},
    "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "scorer"},
        "minReplicaCount": 1,
        "maxReplicaCount": 4,
        "triggers": [{"type": "kafka", "metadata": {"bootstrapServers": "kafka:9092", "consumerGroup": "g"}}],
    },
}
SERVICE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "api"},
    "spec": {"selector": {"app": "api"}, "ports": [{"port": 80, "targetPort": "http"}]},
}


def _failures(document: dict[str, Any]) -> list[str]:
    return validate([document], ["1.25.0"])[1]


def test_valid_builtin_and_custom_resources_pass() -> None:
    passed, failed = validate([SERVICE, SCALED_OBJECT], ["1.25.0", "1.37.0"])
    assert failed == []
    assert len(passed) == 3  # the Service against two versions, the ScaledObject against its CRD


def test_unknown_fields_and_wrong_types_fail() -> None:
    typo = {**SERVICE, "spec": {**SERVICE["spec"], "selektor": {"app": "api"}}}
    assert any("selektor" in line for line in _failures(typo))
    wrong_type = {**SCALED_OBJECT, "spec": {**SCALED_OBJECT["spec"], "maxReplicaCount": "four"}}
    assert any("maxReplicaCount" in line for line in _failures(wrong_type))
    unknown = {**SCALED_OBJECT, "spec": {**SCALED_OBJECT["spec"], "pollingIntervall": 15}}
    assert any("pollingIntervall" in line for line in _failures(unknown))


def test_a_kind_without_a_schema_fails_instead_of_passing() -> None:
    unknown_kind = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert _failures(unknown_kind)


def test_strict_closes_listed_objects_but_keeps_open_maps_open() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "object", "additionalProperties": {"type": "string"}}},
        "x-kubernetes-preserve-unknown-fields": False,
    }
    closed = strict(schema)
    assert closed["additionalProperties"] is False
    assert closed["properties"]["a"] == {"type": "object", "additionalProperties": {"type": "string"}}
    preserved = {"type": "object", "properties": {"b": {}}, "x-kubernetes-preserve-unknown-fields": True}
    assert "additionalProperties" not in strict(preserved)
