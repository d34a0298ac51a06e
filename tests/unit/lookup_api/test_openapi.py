"""The hand-kept OpenAPI document matches the routes the app serves."""

from __future__ import annotations

from starlette.routing import Route

from lookup_api.app import create_app
from lookup_api.config import ApiSettings
from lookup_api.openapi import docs_page, document
from scorecast.settings import Settings


def test_every_route_and_method_is_in_the_document_and_nothing_else() -> None:
    app = create_app(Settings(), ApiSettings(batch_max=250))  # builds without connecting
    doc = document(250)
    served = {
        (route.path, method.lower())
        for route in app.routes
        if isinstance(route, Route)
        for method in (route.methods or ())
        if method != "HEAD"
    }
    documented = {(path, method) for path, operations in doc["paths"].items() for method in operations}
    assert served == documented
    assert doc["openapi"].startswith("3.1")
    entity_ids = doc["components"]["schemas"]["BatchRequest"]["properties"]["entity_ids"]
    assert entity_ids["maxItems"] == 250


def test_docs_page_lists_every_operation_without_external_assets() -> None:
    doc = document(1000)
    page = docs_page(doc)
    for path in doc["paths"]:
        assert f"<code>{path}</code>" in page
    assert "<script" not in page
    assert "http://" not in page
    assert "https://" not in page
