"""Event ids for retries: the client's own, or derived from its Idempotency-Key."""

from __future__ import annotations

import uuid

import pytest

from api import idempotency
from api.errors import ApiError
from api.params import pair_input, rating_input


def test_a_key_names_one_event_per_request() -> None:
    key = {"idempotency-key": "order-17"}
    first = idempotency.event_id(key, None, "rating|1|2|4")
    assert idempotency.event_id(key, None, "rating|1|2|4") == first
    assert uuid.UUID(first).version == 5
    assert idempotency.event_id(key, None, "rating|1|2|3.5") != first  # another request
    assert idempotency.event_id(key, None, "rating|9|2|4") != first  # another user's key
    assert idempotency.event_id({}, None, "rating|1|2|4") != idempotency.event_id({}, None, "rating|1|2|4")


def test_the_bodys_event_id_is_used_as_it_is() -> None:
    upper = str(uuid.UUID(int=7)).upper()
    given = rating_input({"user_id": 1, "movie_id": 2, "rating": 4, "event_id": upper})
    assert given.event_id == str(uuid.UUID(int=7))
    assert idempotency.event_id({"idempotency-key": "k"}, given.event_id, "x") == given.event_id
    assert pair_input({"user_id": 1, "movie_id": 2, "event_id": given.event_id},
                      code="invalid_hidden_item", what="hide").event_id == given.event_id


@pytest.mark.parametrize("bad", [7, "", "not-a-uuid", "1" * 100, None])
def test_a_bad_event_id_is_a_field_error(bad: object) -> None:
    with pytest.raises(ApiError) as caught:
        rating_input({"user_id": 1, "movie_id": 2, "rating": 4, "event_id": bad})
    assert caught.value.status == 422 and "event_id" in caught.value.extra["fields"]


@pytest.mark.parametrize("bad", ["", " lead", "trail ", "tab\there", "é", "k" * 201])
def test_a_bad_key_is_a_400(bad: str) -> None:
    with pytest.raises(ApiError) as caught:
        idempotency.event_id({"idempotency-key": bad}, None, "rating|1|2|4")
    assert (caught.value.status, caught.value.code) == (400, "invalid_idempotency_key")
