"""POST /api/ratings: validation, and the RatingEvent it publishes on the real ratings topic."""

from __future__ import annotations

import uuid
from datetime import datetime

import httpx
import pytest

from infra.settings import Settings
from tests.integration.api.support import consume


async def test_json_rating_is_published_keyed_by_user(client: httpx.AsyncClient, topics: Settings) -> None:
    response = await client.post("/api/ratings", json={"user_id": 12, "movie_id": 34, "rating": 4.5})

    assert response.status_code == 202
    body = response.json()
    event_id = str(uuid.UUID(body["event_id"]))
    assert (body["user_id"], body["movie_id"], body["rating"]) == (12, 34, 4.5)

    [(key, value)] = await consume(topics, "ratings")
    assert key == b"12"
    assert value["event_id"] == event_id
    assert (value["user_id"], value["movie_id"], value["rating"]) == (12, 34, 4.5)
    assert isinstance(value["rated_at"], str)
    assert datetime.fromisoformat(value["rated_at"]).tzinfo is not None

    metrics = (await client.get("/metrics")).text
    assert "streamrec_api_ratings_accepted_total 1.0" in metrics


async def test_form_encoded_rating_from_the_page(client: httpx.AsyncClient, topics: Settings) -> None:
    response = await client.post("/api/ratings", data={"user_id": "5", "movie_id": "6", "rating": "3"})
    assert response.status_code == 202
    [(key, value)] = await consume(topics, "ratings")
    assert key == b"5"
    assert (value["user_id"], value["movie_id"], value["rating"]) == (5, 6, 3.0)


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"user_id": 1, "movie_id": 2}, {"rating"}),
        ({}, {"user_id", "movie_id", "rating"}),
        ({"user_id": 1, "movie_id": 2, "rating": 0}, {"rating"}),
        ({"user_id": 1, "movie_id": 2, "rating": 5.5}, {"rating"}),
        ({"user_id": 1, "movie_id": 2, "rating": 4.25}, {"rating"}),
        ({"user_id": 1, "movie_id": 2, "rating": "4"}, {"rating"}),
        ({"user_id": 1, "movie_id": 2, "rating": True}, {"rating"}),
        ({"user_id": 1, "movie_id": 2, "rating": None}, {"rating"}),
        ({"user_id": "1", "movie_id": 2, "rating": 4}, {"user_id"}),
        ({"user_id": 0, "movie_id": -2, "rating": 4}, {"user_id", "movie_id"}),
        ({"user_id": 2**31, "movie_id": 1.5, "rating": 4}, {"user_id", "movie_id"}),
        ({"user_id": True, "movie_id": 2, "rating": 4}, {"user_id"}),
        ({"user_id": 1, "movie_id": 2, "rating": 4, "event_id": "x"}, {"event_id"}),
    ],
)
async def test_invalid_fields_are_422_listing_each(client: httpx.AsyncClient, body: dict[str, object],
                                                   fields: set[str]) -> None:
    response = await client.post("/api/ratings", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_rating"
    assert set(error["fields"]) == fields


async def test_invalid_form_fields_are_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/ratings", data={"user_id": "x", "movie_id": "2", "rating": "9"})
    assert response.status_code == 422
    assert set(response.json()["error"]["fields"]) == {"user_id", "rating"}


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "invalid_json"),
        (b"", "application/json", 400, "invalid_json"),
        (b"\xff\xfe", "application/json", 400, "invalid_encoding"),
        ('{"user_id": 1, "movie_id": 2, "rating": 4}'.encode("utf-16"), "application/json", 400,
         "invalid_encoding"),  # JSON is UTF-8 only
        (b'{"user_id": 1, "movie_id": 2, "rating": 4}', "application/json; charset=utf-16", 415,
         "unsupported_charset"),
        (b"user_id=1&movie_id=2&rating=4", "application/x-www-form-urlencoded; charset=latin-1", 415,
         "unsupported_charset"),
        (b"user_id=1", "text/plain", 400, "invalid_body"),
        (b"[1, 2, 3]", "application/json", 422, "invalid_rating"),
        (b"x" * 20_000, "application/json", 413, "payload_too_large"),
    ],
)
async def test_bodies_that_are_not_a_rating(client: httpx.AsyncClient, content: bytes, content_type: str,
                                            status: int, code: str) -> None:
    response = await client.post("/api/ratings", content=content, headers={"content-type": content_type})
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


async def test_a_retry_with_the_same_key_or_event_id_publishes_the_same_event(
        client: httpx.AsyncClient, topics: Settings) -> None:
    body = {"user_id": 12, "movie_id": 34, "rating": 4.5}
    keyed = [await client.post("/api/ratings", json=body, headers={"Idempotency-Key": "try-1"})
             for _ in range(2)]
    other = await client.post("/api/ratings", json=body, headers={"Idempotency-Key": "try-2"})
    own = str(uuid.uuid4())
    given = await client.post("/api/ratings", json={**body, "event_id": own})
    assert [r.status_code for r in [*keyed, other, given]] == [202] * 4
    ids = [r.json()["event_id"] for r in [*keyed, other, given]]
    assert ids[0] == ids[1] != ids[2] and ids[3] == own
    published = [value["event_id"] for _, value in await consume(topics, "ratings", count=4)]
    assert published == ids

    bad = await client.post("/api/ratings", json=body, headers={"Idempotency-Key": " "})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_idempotency_key"
