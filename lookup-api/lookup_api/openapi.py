"""The OpenAPI 3.1 document of the API, kept by hand next to the routes, and a /docs page made from it.

A test checks that every route the app serves is in ``paths`` with the same methods, so the document cannot
silently fall behind the code.
"""

from __future__ import annotations

import html
from typing import Any

from lookup_api.validation import ENTITY_ID, MAX_VERSION, NAME


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    meaning = {
        400: "bad input (id, parameter or body)",
        401: "API key missing, unknown or revoked",
        403: "API key not allowed for this model",
        404: "unknown model, alias, version, or no prediction",
        409: "the alias holds several versions",
        413: "batch or body too large",
        429: "rate limit exceeded (see Retry-After)",
        500: "the stored prediction cannot be served (code unreadable_row: a time outside the years 1-9999)",
        503: "Cassandra unavailable (see Retry-After)",
    }
    return {str(s): _json(_ref("Error"), meaning[s]) for s in statuses}


_SELECT = [
    {
        "name": "alias",
        "in": "query",
        "schema": {"type": "string", "pattern": f"^{NAME.pattern}$"},
        "description": "alias to read (default: the serving alias, champion)",
    },
    {
        "name": "version",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_VERSION},
        "description": "version to read; excludes alias",
    },
]
_MODEL = {"name": "model", "in": "path", "required": True, "schema": {"type": "string", "pattern": f"^{NAME.pattern}$"}}
_ENTITY = {
    "name": "entity_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": f"^{ENTITY_ID.pattern}$"},
}
_SECURED: list[dict[str, list[str]]] = [{"bearer": []}, {"apiKey": []}]
_TIME = {"type": ["string", "null"], "format": "date-time"}

PREDICTION_FIELDS: dict[str, Any] = {
    "entity_id": {"type": "string"},
    "score": {"type": ["number", "null"]},
    "outputs": {"type": "object", "additionalProperties": {"type": "number"}},
    "event_id": {"type": "string"},
    "event_time": _TIME,
    "scored_at": _TIME,
    "age_ms": {"type": ["integer", "null"], "description": "milliseconds since the prediction was scored"},
    "trace_id": {
        "type": ["string", "null"],
        "pattern": "^[0-9a-f]{32}$",
        "description": "OpenTelemetry trace id of the event's scoring (from its traceparent); null when unknown",
    },
}
_SERVED = {
    "model": {"type": "string"},
    "version": {"type": "integer"},
    "alias": {"type": ["string", "null"], "description": "alias that resolved to version; null if asked by version"},
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "scorecast lookup API", "version": "1", "description": "Precomputed predictions by key."},
    "components": {
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        },
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                    }
                },
            },
            "Prediction": {"type": "object", "properties": {**_SERVED, **PREDICTION_FIELDS}},
            "BatchRequest": {
                "type": "object",
                "required": ["entity_ids"],
                "additionalProperties": False,
                "properties": {
                    "entity_ids": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 1000,
                        "items": {"type": "string", "pattern": f"^{ENTITY_ID.pattern}$"},
                        "description": "maxItems is the default of SCORECAST_API_BATCH_MAX",
                    },
                    "alias": {"type": "string"},
                    "version": {"type": "integer", "minimum": 1},
                },
            },
            "BatchResponse": {
                "type": "object",
                "properties": {
                    **_SERVED,
                    "results": {"type": "array", "items": {"type": "object", "properties": PREDICTION_FIELDS}},
                    "not_found": {"type": "array", "items": {"type": "string"}},
                    "unreadable": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "ids whose stored prediction cannot be served; present only when not empty",
                    },
                },
            },
            "Models": {
                "type": "object",
                "properties": {
                    "models": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "model": {"type": "string"},
                                "versions": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "version": {"type": "integer"},
                                            "created_at": _TIME,
                                            "description": {"type": ["string", "null"]},
                                        },
                                    },
                                },
                                "aliases": {
                                    "type": "object",
                                    "additionalProperties": {"type": "array", "items": {"type": "integer"}},
                                },
                            },
                        },
                    }
                },
            },
        },
    },
    "paths": {
        "/v1/predictions/{model}/{entity_id}": {
            "get": {
                "operationId": "getPrediction",
                "summary": "Latest prediction of one entity",
                "security": _SECURED,
                "parameters": [_MODEL, _ENTITY, *_SELECT],
                "responses": {
                    "200": _json(_ref("Prediction"), "the prediction"),
                    **_errors(400, 401, 403, 404, 409, 429, 500, 503),
                },
            }
        },
        "/v1/predictions/{model}:batch": {
            "post": {
                "operationId": "getPredictionsBatch",
                "summary": "Latest predictions of many entities",
                "security": _SECURED,
                "parameters": [_MODEL, *_SELECT],
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("BatchRequest")}}},
                "responses": {
                    "200": _json(_ref("BatchResponse"), "found predictions, and the ids without one"),
                    **_errors(400, 401, 403, 404, 409, 413, 429, 503),
                },
            }
        },
        "/v1/models": {
            "get": {
                "operationId": "listModels",
                "summary": "Models, versions and aliases (those the key may read)",
                "security": _SECURED,
                "responses": {"200": _json(_ref("Models"), "the registry"), **_errors(401, 429, 503)},
            }
        },
        "/healthz": {
            "get": {
                "operationId": "health",
                "summary": "The process is up",
                "responses": {"200": {"description": "up"}},
            }
        },
        "/readyz": {
            "get": {
                "operationId": "ready",
                "summary": "Cassandra reachable and statements prepared",
                "responses": {"200": {"description": "ready"}, "503": _json(_ref("Error"), "not ready")},
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "summary": "Prometheus metrics (not here when SCORECAST_API_METRICS_ACCESS=port)",
                "security": _SECURED,
                "responses": {"200": {"description": "text exposition format"}, **_errors(401, 429)},
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "responses": {"200": {"description": "OpenAPI 3.1"}},
            }
        },
        "/docs": {
            "get": {
                "operationId": "docs",
                "summary": "A page listing the operations",
                "responses": {"200": {"description": "HTML"}},
            }
        },
    },
}


def document(batch_max: int) -> dict[str, Any]:
    """The document, with this deployment's batch limit."""
    batch = DOCUMENT["components"]["schemas"]["BatchRequest"]
    items = {**batch["properties"]["entity_ids"], "maxItems": batch_max}
    schemas = {
        **DOCUMENT["components"]["schemas"],
        "BatchRequest": {**batch, "properties": {**batch["properties"], "entity_ids": items}},
    }
    return {**DOCUMENT, "components": {**DOCUMENT["components"], "schemas": schemas}}


def docs_page(doc: dict[str, Any]) -> str:
    """Plain HTML (no scripts, no CDN) listing every operation and its answers."""
    rows = []
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            statuses = ", ".join(f"{code} {html.escape(r['description'])}" for code, r in op["responses"].items())
            params = ", ".join(p["name"] for p in op.get("parameters", []))
            rows.append(
                f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code></td>"
                f"<td>{html.escape(op['summary'])}</td><td>{html.escape(params)}</td><td>{statuses}</td></tr>"
            )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>scorecast lookup API</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{border-bottom:1px solid #ddd;padding:4px 8px;"
        "text-align:left;vertical-align:top}</style></head><body>"
        f"<h1>{html.escape(doc['info']['title'])}</h1><p>{html.escape(doc['info']['description'])} "
        "Send the API key as <code>Authorization: Bearer &lt;key&gt;</code> or <code>X-API-Key</code>. "
        "Machine-readable: <a href='/openapi.json'>/openapi.json</a>.</p>"
        "<table><tr><th>method</th><th>path</th><th>what</th><th>parameters</th><th>responses</th></tr>"
        + "".join(rows)
        + "</table></body></html>"
    )
