"""Validate rendered Kubernetes manifests offline: built-in kinds against the Kubernetes OpenAPI schemas that
the `kubernetes-validate` package ships (strict: unknown fields are errors), custom resources (KEDA, the
Prometheus operator) against their CRDs' schemas kept in infra/helm/crd-schemas. A kind with neither is an
error, never skipped.

    python -m tests.unit.deploy.validate_manifests rendered.yaml [--kubernetes 1.25.0 --kubernetes 1.37.0]
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # PyYAML comes with uvicorn[standard]

CRD_SCHEMAS = Path(__file__).resolve().parents[3] / "infra" / "helm" / "crd-schemas"
# apiVersion, kind -> the schema file; a CRD's schema covers every field but apiVersion/kind/metadata's own
CUSTOM_KINDS = {
    ("keda.sh/v1alpha1", "ScaledObject"): "scaledobject-keda.sh-v1alpha1.json",
    ("keda.sh/v1alpha1", "TriggerAuthentication"): "triggerauthentication-keda.sh-v1alpha1.json",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor-monitoring.coreos.com-v1.json",
}


def strict(schema: Any) -> Any:
    """The schema with unknown fields refused where the CRD lists the fields (as `kubectl --validate=strict`
    does; the API server would silently prune them)."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: strict(value) for key, value in schema.items()}
    if (
        "properties" in result
        and "additionalProperties" not in result
        and not result.get("x-kubernetes-preserve-unknown-fields")
    ):
        result["additionalProperties"] = False
    return result


def documents(texts: Iterable[str]) -> Iterator[dict[str, Any]]:
    for text in texts:
        for document in yaml.safe_load_all(text):
            if document:  # `---` with nothing under it (a template that rendered empty)
                yield document


def describe(document: dict[str, Any]) -> str:
    return f"{document.get('kind')}/{(document.get('metadata') or {}).get('name')}"


def validate_custom(document: dict[str, Any], schema_file: str) -> list[str]:
    jsonschema = importlib.import_module("jsonschema")  # installed by `make deploy-check`, with kubernetes-validate

    schema = strict(json.loads((CRD_SCHEMAS / schema_file).read_text()))
    schema.pop("$comment", None)
    validator = jsonschema.Draft7Validator(schema)
    problems = [
        f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(document)
    ]
    if not (document.get("metadata") or {}).get("name"):
        problems.append("metadata.name: missing")
    return problems


def validate_builtin(document: dict[str, Any], version: str) -> list[str]:
    kubernetes_validate = importlib.import_module("kubernetes_validate")

    try:
        kubernetes_validate.validate(document, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{'.'.join(map(str, error.path)) or '<root>'}: {error.message}"]
    except kubernetes_validate.SchemaNotFoundError as error:
        return [f"no schema for it in Kubernetes {version}: {error}"]
    return []


def validate(documents: Iterable[dict[str, Any]], versions: list[str]) -> tuple[list[str], list[str]]:
    """(lines of what passed, lines of what failed), one line per document and check."""
    passed: list[str] = []
    failed: list[str] = []
    for document in documents:
        name = describe(document)
        custom = CUSTOM_KINDS.get((document.get("apiVersion", ""), document.get("kind", "")))
        checks = [(f"CRD schema {custom}", validate_custom(document, custom))] if custom else [
            (f"Kubernetes {v}", validate_builtin(document, v)) for v in versions
        ]  # fmt: skip
        for against, problems in checks:
            if problems:
                failed += [f"FAIL {name} against {against}: {p}" for p in problems]
            else:
                passed.append(f"ok   {name} against {against}")
    return passed, failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--kubernetes", action="append", help="Kubernetes version to validate against (repeat)")
    args = parser.parse_args(argv)
    versions = args.kubernetes or ["1.25.0"]
    parsed = list(documents(f.read_text() for f in args.files))
    passed, failed = validate(parsed, versions)
    for line in passed + failed:
        print(line)
    print(f"{len(parsed)} manifests: {len(passed)} checks passed, {len(failed)} failed")
    return 1 if failed or not parsed else 0


if __name__ == "__main__":
    sys.exit(main())
