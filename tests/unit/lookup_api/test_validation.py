"""Request checks: id charset and length, selectors, query parameters and the batch body."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lookup_api.errors import ApiError
from lookup_api.validation import (
    ENTITY_ID,
    Selector,
    batch_request,
    check_entity_id,
    check_model,
    query_selector,
    selector,
)
from schemas.rules import id_problem

ALLOWED = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:@-"


@given(st.text(alphabet=ALLOWED, min_size=1, max_size=128))
def test_every_id_of_the_charset_up_to_128_is_accepted(entity_id: str) -> None:
    assert check_entity_id(entity_id) == entity_id


@given(st.text(min_size=1, max_size=40).filter(lambda s: any(c not in ALLOWED for c in s)))
def test_any_other_character_is_refused(entity_id: str) -> None:
    with pytest.raises(ApiError) as caught:
        check_entity_id(entity_id)
    assert (caught.value.status, caught.value.code) == (400, "invalid_entity_id")


@pytest.mark.parametrize("bad", ["", "x" * 129, "a/b", "a b", "é", "a\n", 17, None])
def test_malformed_ids(bad: object) -> None:
    with pytest.raises(ApiError, match="entity ids are"):
        check_entity_id(bad)


def test_id_pattern_is_anchored_by_fullmatch() -> None:
    assert ENTITY_ID.fullmatch("card-000001")
    assert not ENTITY_ID.fullmatch("card-1/x")


@pytest.mark.parametrize("model", ["fraud", "Fraud.v2", "a", "r" + "x" * 63])
def test_model_names_follow_the_registry(model: str) -> None:
    assert check_model(model) == model


@pytest.mark.parametrize("model", ["1fraud", "", "fr:aud", "x" * 65, "fraud batch"])
def test_bad_model_names(model: str) -> None:
    with pytest.raises(ApiError) as caught:
        check_model(model)
    assert caught.value.code == "invalid_model"


def test_selector_parses_versions_strictly() -> None:
    assert selector(version="3") == Selector(version=3)
    assert selector(version=3) == Selector(version=3)
    assert selector(alias="canary") == Selector(alias="canary")
    for bad in ["abc", "0", "-1", "+3", " 3", "3.0", "99999999999", True, 2.5, 2**31]:
        with pytest.raises(ApiError, match="version must be"):
            selector(version=bad)
    with pytest.raises(ApiError, match="not both"):
        selector(alias="champion", version=1)


def test_query_parameters_unknown_or_repeated_are_refused() -> None:
    assert query_selector({}, {}) == Selector()
    with pytest.raises(ApiError, match="unknown query parameter"):
        query_selector({"verison": "3"}, {"verison": ["3"]})
    with pytest.raises(ApiError, match="more than once"):
        query_selector({"version": "3"}, {"version": ["3", "4"]})


def _body(document: object) -> bytes:
    return orjson.dumps(document)


def test_batch_body_deduplicates_and_keeps_order() -> None:
    parsed = batch_request(_body({"entity_ids": ["b", "a", "b"], "version": 2}), Selector(), 10)
    assert parsed.entity_ids == ("b", "a")
    assert parsed.selector == Selector(version=2)
    assert batch_request(_body({"entity_ids": ["a"]}), Selector(alias="canary"), 10).selector.alias == "canary"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "invalid_json"),
        (b"", 400, "invalid_json"),
        (_body(["a"]), 400, "invalid_body"),
        (_body({"ids": ["a"]}), 400, "invalid_body"),
        (_body({"entity_ids": []}), 400, "invalid_body"),
        (_body({"entity_ids": "a"}), 400, "invalid_body"),
        (_body({"entity_ids": ["a", 3]}), 400, "invalid_entity_id"),
        (_body({"entity_ids": ["a"], "extra": 1}), 400, "invalid_body"),
        (_body({"entity_ids": ["a"], "version": "x"}), 400, "invalid_parameter"),
        (_body({"entity_ids": [f"id{i}" for i in range(11)]}), 413, "batch_too_large"),
    ],
)
def test_bad_batch_bodies(body: bytes, status: int, code: str) -> None:
    with pytest.raises(ApiError) as caught:
        batch_request(body, Selector(), 10)
    assert (caught.value.status, caught.value.code) == (status, code)


def test_selector_in_query_and_body_together_is_refused() -> None:
    with pytest.raises(ApiError, match="not both"):
        batch_request(_body({"entity_ids": ["a"], "version": 1}), Selector(alias="champion"), 10)


@given(st.one_of(st.text(max_size=130), st.text(alphabet=ALLOWED, max_size=130)))
def test_the_api_accepts_exactly_the_ids_a_writer_may_store(entity_id: str) -> None:
    """One rule (schemas.rules) for the producer, the scorer and the API: a stored id can always be looked up."""
    try:
        check_entity_id(entity_id)
    except ApiError:
        accepted = False
    else:
        accepted = True
    assert accepted == (id_problem(entity_id) is None)
