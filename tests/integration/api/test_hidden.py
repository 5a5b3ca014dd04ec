"""POST and DELETE /api/hidden: validation, and the HiddenEvent each publishes on the real
hidden-items topic; 503 while Kafka is away."""

from __future__ import annotations

import uuid
from datetime import datetime

import httpx
import pytest

from infra.settings import Settings
from tests.integration.api.support import closed_port, consume, serve


async def test_a_hide_and_an_unhide_are_published_keyed_by_user(client: httpx.AsyncClient,
                                                                 topics: Settings) -> None:
    hide = await client.post("/api/hidden", json={"user_id": 12, "movie_id": 34})
    assert hide.status_code == 202
    body = hide.json()
    assert (body["user_id"], body["movie_id"], body["hidden"]) == (12, 34, True)
    unhide = await client.request("DELETE", "/api/hidden", json={"user_id": 12, "movie_id": 34})
    assert unhide.status_code == 202
    assert unhide.json()["hidden"] is False
    form = await client.post("/api/hidden", data={"user_id": "5", "movie_id": "6"})
    assert form.status_code == 202

    published = await consume(topics, "hidden-items", count=3)
    by_id = {value["event_id"]: (key, value) for key, value in published}
    key, value = by_id[str(uuid.UUID(body["event_id"]))]
    assert key == b"12"
    assert (value["user_id"], value["movie_id"], value["hidden"]) == (12, 34, True)
    assert datetime.fromisoformat(str(value["at"])).tzinfo is not None
    key, value = by_id[unhide.json()["event_id"]]
    assert (key, value["hidden"]) == (b"12", False)
    assert datetime.fromisoformat(str(value["at"])) >= datetime.fromisoformat(body["at"])
    assert by_id[form.json()["event_id"]][0] == b"5"

    metrics = (await client.get("/metrics")).text
    assert 'streamrec_api_hidden_accepted_total{action="hide"} 2.0' in metrics
    assert 'streamrec_api_hidden_accepted_total{action="unhide"} 1.0' in metrics


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"user_id": 1}, {"movie_id"}),
        ({}, {"user_id", "movie_id"}),
        ({"user_id": "1", "movie_id": 2}, {"user_id"}),
        ({"user_id": 0, "movie_id": -2}, {"user_id", "movie_id"}),
        ({"user_id": 2**31, "movie_id": 1.5}, {"user_id", "movie_id"}),
        ({"user_id": True, "movie_id": None}, {"user_id", "movie_id"}),
        ({"user_id": 1, "movie_id": 2, "hidden": False}, {"hidden"}),
        ({"user_id": 1, "movie_id": 2, "rating": 4}, {"rating"}),
    ],
)
@pytest.mark.parametrize("method", ["POST", "DELETE"])
async def test_invalid_fields_are_422_listing_each(client: httpx.AsyncClient, method: str,
                                                   body: dict[str, object], fields: set[str]) -> None:
    response = await client.request(method, "/api/hidden", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_hidden_item"
    assert set(error["fields"]) == fields


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "invalid_json"),
        (b"", "application/json", 400, "invalid_json"),
        (b"[" * 40 + b"]" * 40, "application/json", 400, "too_deep"),
        (b"user_id=1", "text/plain", 400, "invalid_body"),
        (b"[1, 2, 3]", "application/json", 422, "invalid_hidden_item"),
        (b"x" * 20_000, "application/json", 413, "payload_too_large"),
    ],
)
async def test_bodies_that_are_not_a_hidden_item(client: httpx.AsyncClient, content: bytes,
                                                 content_type: str, status: int, code: str) -> None:
    response = await client.post("/api/hidden", content=content, headers={"content-type": content_type})
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    if code == "invalid_json":
        assert "movie_id" in error["hint"] and "rating" not in error["hint"]


async def test_other_methods_are_405_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/hidden")
    assert response.status_code == 405
    assert "error" in response.json()


async def test_without_kafka_a_hide_is_503(api_settings: Settings) -> None:
    no_kafka = api_settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{closed_port()}"})
    async with serve(no_kafka) as client:
        for method in ("POST", "DELETE", "POST"):
            response = await client.request(method, "/api/hidden", json={"user_id": 3, "movie_id": 1})
            assert response.status_code == 503
            assert response.json()["error"]["code"] == "service_unavailable"
            assert "Kafka" in response.json()["error"]["message"]
