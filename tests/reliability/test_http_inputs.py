"""Injection-shaped and oversized parameters get a 400 JSON error and touch nothing."""

from __future__ import annotations

import asyncpg
import pytest

from infra.settings import Settings
from tests.integration.api.support import serve

HOSTILE = [
    "1; DROP TABLE ratings;--",
    "1' OR '1'='1",
    "1 OR 1=1",
    "1)) UNION SELECT * FROM model_versions--",
    "%00",
    "1\x00",
    "\uff11",  # a full-width digit one
    "9" * 8_000,
    "x" * 8_000,
]


@pytest.mark.parametrize("value", HOSTILE, ids=[f"case{i}" for i in range(len(HOSTILE))])
async def test_hostile_user_id_and_limit_get_400(
    settings: Settings, database_url: str, pool: asyncpg.Pool, value: str
) -> None:
    async with serve(settings.model_copy(update={"database_url": database_url})) as client:
        for params in ({"user_id": value}, {"user_id": "1", "limit": value}):
            response = await client.get("/api/suggestions/", params=params)
            assert response.status_code == 400, (params, response.text[:200])
            assert set(response.json()["error"]) >= {"code", "message"}
    assert await pool.fetchval("SELECT count(*) FROM pg_tables WHERE tablename = 'ratings'") == 1


UNTAKEABLE = [
    b"[" * 5000,
    b'{"a":' * 1500,
    b'{"user_id": 1, "movie_id": 1, "rating": 1' + b"0" * 400 + b"}",
    b'{"user_id": 1, "movie_id": 1, "rating": 1e400}',
    b'{"user_id": 1' + b"0" * 40 + b', "movie_id": 1, "rating": 4}',
    b'{"user_id": 1, "movie_id": 1, "rating": 4, "x": ' + b"[" * 30 + b"]" * 30 + b"}",
]


@pytest.mark.parametrize("body", UNTAKEABLE, ids=[f"body{i}" for i in range(len(UNTAKEABLE))])
async def test_bodies_the_parser_should_not_take_get_a_4xx(
    settings: Settings, database_url: str, body: bytes
) -> None:
    async with serve(settings.model_copy(update={"database_url": database_url})) as client:
        response = await client.post("/api/ratings", content=body,
                                     headers={"content-type": "application/json"})
    assert response.status_code in (400, 413, 422), response.text[:200]
    assert set(response.json()["error"]) >= {"code", "message"}
