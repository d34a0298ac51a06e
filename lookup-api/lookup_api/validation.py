"""What a well-formed request is: id charsets and lengths, query parameters, the batch body.

Entity ids follow the event rules every writer applies (schemas.rules): 1-128 characters of
``A-Z a-z 0-9 _ . : @ -`` (no '/', no spaces, no percent-encoding games), so every stored id can be looked up.
Model names follow the registry: a letter, then up to 63 of ``A-Z a-z 0-9 _ . -``. Aliases use the model
name rule. Versions are positive 32-bit integers. Unknown query parameters are refused so that a typo such
as ``?verison=3`` is an error rather than a silent answer for the serving alias.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from lookup_api.errors import ApiError, bad_request
from schemas.rules import ID, ID_RULE

ENTITY_ID = ID  # the writers' rule (schemas.rules): every id they let through can be looked up
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
MAX_VERSION = 2**31 - 1
_SELECTOR_PARAMS = frozenset({"alias", "version"})


@dataclass(frozen=True)
class Selector:
    """Which version of a model to read: an explicit version, or an alias (None means the serving alias)."""

    alias: str | None = None
    version: int | None = None


def check_model(model: str) -> str:
    if not NAME.fullmatch(model):
        raise bad_request("invalid_model", "model must be a letter then up to 63 letters, digits, '_', '.', '-'")
    return model


def check_entity_id(entity_id: object) -> str:
    if not isinstance(entity_id, str) or not ENTITY_ID.fullmatch(entity_id):
        raise bad_request("invalid_entity_id", f"entity ids are {ID_RULE}")
    return entity_id


def _alias(value: object) -> str:
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise bad_request("invalid_parameter", "alias must be a letter then up to 63 letters, digits, '_', '.', '-'")
    return value


def _version(value: object) -> int:
    # bool is an int in Python but never a version; digits only, so "+3", " 3" and "3.0" are refused
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 10:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_VERSION:
        raise bad_request("invalid_parameter", f"version must be an integer from 1 to {MAX_VERSION}")
    return value


def selector(alias: object = None, version: object = None) -> Selector:
    if alias is not None and version is not None:
        raise bad_request("invalid_parameter", "give alias or version, not both")
    return Selector(
        alias=_alias(alias) if alias is not None else None,
        version=_version(version) if version is not None else None,
    )


def query_selector(params: Mapping[str, str], multi: Mapping[str, list[str]]) -> Selector:
    """``?alias=`` or ``?version=`` (each at most once, nothing else)."""
    unknown = set(params) - _SELECTOR_PARAMS
    if unknown:
        raise bad_request("invalid_parameter", f"unknown query parameter(s): {', '.join(sorted(unknown))}")
    for name in params:
        if len(multi[name]) > 1:
            raise bad_request("invalid_parameter", f"query parameter {name} given more than once")
    return selector(params.get("alias"), params.get("version"))


@dataclass(frozen=True)
class BatchRequest:
    entity_ids: tuple[str, ...]  # distinct, in request order
    selector: Selector


def batch_request(body: bytes, query: Selector, batch_max: int) -> BatchRequest:
    """Parse ``{"entity_ids": [...], "alias"?: str, "version"?: int}``; the selector may come from the query."""
    try:
        document: Any = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise bad_request("invalid_json", f"body is not valid JSON: {error.msg}") from None
    if not isinstance(document, dict):
        raise bad_request("invalid_body", 'body must be a JSON object like {"entity_ids": ["id-1", "id-2"]}')
    unknown = set(document) - {"entity_ids", "alias", "version"}
    if unknown:
        raise bad_request("invalid_body", f"unknown field(s) in body: {', '.join(sorted(unknown))}")
    ids = document.get("entity_ids")
    if not isinstance(ids, list) or not ids:
        raise bad_request("invalid_body", "entity_ids must be a non-empty array of strings")
    if len(ids) > batch_max:
        raise ApiError(413, "batch_too_large", f"at most {batch_max} entity ids per batch, got {len(ids)}")
    body_selector = selector(document.get("alias"), document.get("version"))
    if body_selector != Selector() and query != Selector():
        raise bad_request("invalid_parameter", "give alias or version in the query or in the body, not both")
    distinct = dict.fromkeys(check_entity_id(entity_id) for entity_id in ids)
    return BatchRequest(tuple(distinct), body_selector if body_selector != Selector() else query)
