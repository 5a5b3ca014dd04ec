"""Strict parsing of query parameters and rating bodies (no services)."""

from __future__ import annotations

import pytest
from starlette.datastructures import QueryParams

from api.errors import ApiError
from api.params import RatingInput, query_int, rating_input


@pytest.mark.parametrize(("query", "expected"), [("n=1", 1), ("n=2147483647", 2147483647), ("", 9)])
def test_query_int_accepts_plain_digits_in_range(query: str, expected: int) -> None:
    assert query_int(QueryParams(query), "n", low=1, high=2**31 - 1, default=9) == expected


@pytest.mark.parametrize("raw", ["", "0", "-1", "+1", " 1", "1.0", "1e3", "0x10", "2147483648",
                                 "٣", "9" * 40])
def test_query_int_refuses_anything_else(raw: str) -> None:
    with pytest.raises(ApiError) as caught:
        query_int(QueryParams({"n": raw}), "n", low=1, high=2**31 - 1)
    assert (caught.value.status, caught.value.code) == (400, "invalid_parameter")
    assert len(caught.value.message) < 120


def test_query_int_missing_without_default_is_400() -> None:
    with pytest.raises(ApiError) as caught:
        query_int(QueryParams(""), "user_id", low=1, high=10)
    assert caught.value.code == "missing_parameter"
    assert "user_id" in caught.value.message


def test_json_rating_needs_numbers() -> None:
    assert rating_input({"user_id": 1, "movie_id": 2, "rating": 4}) == RatingInput(1, 2, 4.0)
    assert rating_input({"user_id": 1, "movie_id": 2, "rating": 0.5}).rating == 0.5
    with pytest.raises(ApiError) as caught:
        rating_input({"user_id": "1", "movie_id": 2.0, "rating": "4", "extra": 1})
    assert caught.value.status == 422
    assert set(caught.value.extra["fields"]) == {"user_id", "movie_id", "rating", "extra"}


def test_form_rating_parses_text() -> None:
    given = rating_input({"user_id": "1", "movie_id": "2", "rating": "3.5"}, form=True)
    assert given == RatingInput(1, 2, 3.5)
    with pytest.raises(ApiError) as caught:
        rating_input({"user_id": "1", "movie_id": "2", "rating": "nan"}, form=True)
    assert set(caught.value.extra["fields"]) == {"rating"}


@pytest.mark.parametrize("rating", [0, 0.25, 5.5, 4.75, float("nan"), float("inf"), -1, True, None, [4]])
def test_bad_ratings(rating: object) -> None:
    with pytest.raises(ApiError) as caught:
        rating_input({"user_id": 1, "movie_id": 2, "rating": rating})
    assert set(caught.value.extra["fields"]) == {"rating"}
