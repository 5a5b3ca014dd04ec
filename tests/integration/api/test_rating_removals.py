"""Removing one's rating: DELETE /api/ratings publishes a removal on the real ratings topic,
keyed by the user; stored as the ratings agent stores it (``ratings_repo.ingest``, one
transaction per mixed batch), the rating is gone from everything that reads ratings, an
older rating redelivered does not bring it back and a newer one does."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from infra.repositories import ratings as ratings_repo
from infra.repositories import serving
from infra.settings import Settings
from schemas.events import RatingEvent, RatingRemoved
from tests.integration.api.support import add_movies, add_suggestions, consume

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _rating(user: int, movie: int, rating: float, at: datetime, event_id: str | None = None) -> RatingEvent:
    return RatingEvent(event_id=event_id or str(uuid.uuid4()), user_id=user, movie_id=movie,
                       rating=rating, rated_at=at)


def _removal(user: int, movie: int, at: datetime, event_id: str | None = None) -> RatingRemoved:
    return RatingRemoved(event_id=event_id or str(uuid.uuid4()), user_id=user, movie_id=movie, rated_at=at)


async def _ingest(pool: asyncpg.Pool, *events: RatingEvent | RatingRemoved,
                  every: int = 1000) -> ratings_repo.IngestResult:
    async with pool.acquire() as conn:
        return await ratings_repo.ingest(conn, list(events), retrain_every=every)


async def _exported(pool: asyncpg.Pool) -> set[tuple[int, int, float]]:
    async with pool.acquire() as conn:
        frame, _ = await ratings_repo.export(conn)
    return {(int(u), int(m), float(r)) for u, m, r in frame.itertuples(index=False)}


async def _shown(client: httpx.AsyncClient, user: int) -> dict[int, float]:
    body = (await client.get(f"/api/users/{user}/ratings")).json()
    assert body["total"] == len(body["ratings"])
    return {r["id"]: r["rating"] for r in body["ratings"]}


async def test_a_removal_is_published_on_the_ratings_topic_keyed_by_the_user(
    client: httpx.AsyncClient, topics: Settings
) -> None:
    rated = await client.post("/api/ratings", json={"user_id": 12, "movie_id": 34, "rating": 4})
    removed = await client.request("DELETE", "/api/ratings", json={"user_id": 12, "movie_id": 34})
    form = await client.request("DELETE", "/api/ratings", data={"user_id": "5", "movie_id": "6"})
    assert (rated.status_code, removed.status_code, form.status_code) == (202, 202, 202)
    body = removed.json()
    assert (body["user_id"], body["movie_id"], body["op"]) == (12, 34, "remove")
    assert datetime.fromisoformat(body["rated_at"]) >= datetime.fromisoformat(rated.json()["rated_at"])

    published = await consume(topics, "ratings", count=3)
    by_id = {value["event_id"]: (key, value) for key, value in published}
    key, value = by_id[body["event_id"]]
    assert key == b"12"
    assert value == {"op": "remove", "event_id": body["event_id"], "user_id": 12, "movie_id": 34,
                     "rated_at": body["rated_at"]}
    assert by_id[form.json()["event_id"]][0] == b"5"
    # The rating and its removal are in one partition, the rating first.
    assert [v.get("op") for _, v in published if v["user_id"] == 12] == [None, "remove"]

    metrics = (await client.get("/metrics")).text
    assert "streamrec_api_rating_removals_accepted_total 2.0" in metrics
    assert "streamrec_api_ratings_accepted_total 1.0" in metrics


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"user_id": 1}, {"movie_id"}),
        ({}, {"user_id", "movie_id"}),
        ({"user_id": "1", "movie_id": 2}, {"user_id"}),
        ({"user_id": 0, "movie_id": 2**31}, {"user_id", "movie_id"}),
        ({"user_id": True, "movie_id": None}, {"user_id", "movie_id"}),
        ({"user_id": 1, "movie_id": 2, "rating": 4}, {"rating"}),
        ({"user_id": 1, "movie_id": 2, "op": "remove"}, {"op"}),
    ],
)
async def test_bad_removals_are_422_listing_each_field(client: httpx.AsyncClient, body: dict[str, object],
                                                        fields: set[str]) -> None:
    response = await client.request("DELETE", "/api/ratings", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_removal"
    assert set(error["fields"]) == fields


async def test_bodies_that_are_not_a_removal_and_wrong_methods(client: httpx.AsyncClient) -> None:
    for content, content_type, status, code in (
            (b"{nope", "application/json", 400, "invalid_json"),
            (b"[1]", "application/json", 422, "invalid_removal"),
            (b"x" * 20_000, "application/json", 413, "payload_too_large"),
            (b"user_id=1", "text/plain", 400, "invalid_body")):
        response = await client.request("DELETE", "/api/ratings", content=content,
                                        headers={"content-type": content_type})
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), content[:20]
    wrong = await client.put("/api/ratings", json={"user_id": 1, "movie_id": 2})
    assert wrong.status_code == 405
    assert {m.strip() for m in wrong.headers["allow"].split(",")} == {"POST", "DELETE"}


async def test_rate_remove_and_the_rating_is_gone_from_everything_that_reads_ratings(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    await add_movies(pool, [(1, "One", 3.0), (2, "Two", 2.0), (3, "Three", 1.0)])
    await add_suggestions(pool, 7, [(1, 0.9), (2, 0.8), (3, 0.7)])
    first = _rating(7, 1, 4.5, T0)
    assert (await _ingest(pool, first, _rating(7, 2, 3.0, T0), _rating(8, 1, 2.0, T0))).stored == 3
    assert await _shown(client, 7) == {1: 4.5, 2: 3.0}
    assert [s.id for s in (await serving.suggestions_for(pool, 7, 10)).suggestions] == [3]
    async with pool.acquire() as conn:
        before = await ratings_repo.newest_ingested_at(conn)

    result = await _ingest(pool, _removal(7, 1, T0 + timedelta(minutes=1)))
    assert (result.stored, result.removed) == (0, 1)
    assert await _shown(client, 7) == {2: 3.0}
    assert await _exported(pool) == {(7, 2, 3.0), (8, 1, 2.0)}
    async with pool.acquire() as conn:
        read = await ratings_repo.rated_pairs(conn, [7])
        newest = await ratings_repo.newest_ingested_at(conn)
    assert sorted(zip(read.user_ids, read.movie_ids, strict=True)) == [(7, 2)]
    assert newest is not None and before is not None and newest > before  # the scheduled retrain sees it
    assert not await pool.fetchval("SELECT did_rate FROM suggestions WHERE user_id = 7 AND movie_id = 1")
    # Removed, the movie may be suggested again (it was in the list; serve-time exclusion lets it be).
    assert [s.id for s in (await serving.suggestions_for(pool, 7, 10)).suggestions] == [1, 3]
    # The retrain counter: three ratings and one removal that deleted a rating.
    assert await pool.fetchval("SELECT pending FROM retrain_counter") == 4

    # The removed rating redelivered (same id), and an older one of another id: still removed.
    again = await _ingest(pool, first, _rating(7, 1, 1.0, T0 + timedelta(seconds=30)))
    assert (again.stored, again.removed) == (0, 0)
    # A removal replayed, and one older than the tombstone: nothing changes, nothing counted.
    assert (await _ingest(pool, _removal(7, 2, T0 - timedelta(days=1)))).removed == 0
    assert await _shown(client, 7) == {2: 3.0}
    assert await pool.fetchval("SELECT pending FROM retrain_counter") == 4

    # A rating later than the removal adds it back.
    assert (await _ingest(pool, _rating(7, 1, 2.5, T0 + timedelta(minutes=2)))).stored == 1
    assert await _shown(client, 7) == {1: 2.5, 2: 3.0}
    assert (7, 1, 2.5) in await _exported(pool)
    assert [s.id for s in (await serving.suggestions_for(pool, 7, 10)).suggestions] == [3]


async def test_a_mixed_batch_applies_the_latest_event_of_each_pair(pool: asyncpg.Pool) -> None:
    await add_movies(pool, [(1, "One", 3.0), (2, "Two", 2.0), (3, "Three", 1.0), (4, "Four", 0.0)])
    await _ingest(pool, _rating(5, 4, 4.0, T0))
    result = await _ingest(
        pool,
        # (5, 1): rated, removed, rated again: the last rating stands.
        _rating(5, 1, 1.0, T0), _removal(5, 1, T0 + timedelta(seconds=1)),
        _rating(5, 1, 3.5, T0 + timedelta(seconds=2)),
        # (5, 2): rated, then removed: nothing stands (the rating's own id is in no table).
        _rating(5, 2, 2.0, T0), _removal(5, 2, T0 + timedelta(seconds=1)),
        # (5, 3): a removal and a rating at the same time: the removal wins.
        _removal(5, 3, T0), _rating(5, 3, 5.0, T0),
        # (5, 4): stored before; removed by a removal that arrives before an older rating.
        _removal(5, 4, T0 + timedelta(hours=1)), _rating(5, 4, 2.0, T0 + timedelta(minutes=30)),
    )
    rows = await pool.fetch("SELECT movie_id, rating FROM ratings WHERE user_id = 5 ORDER BY movie_id")
    assert [tuple(r) for r in rows] == [(1, 3.5)]
    assert (result.stored, result.removed) == (1, 1)
    assert await pool.fetchval("SELECT count(*) FROM rating_removals WHERE user_id = 5") == 4


async def test_a_mixed_batch_is_one_transaction(pool: asyncpg.Pool) -> None:
    await add_movies(pool, [(1, "One", 3.0)])
    await _ingest(pool, _rating(5, 1, 4.0, T0))
    pending = await pool.fetchval("SELECT pending FROM retrain_counter")
    # A rating of a movie that does not exist fails the batch (the agent then stores it
    # event by event): the removal in the same batch is not applied either.
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await _ingest(pool, _removal(5, 1, T0 + timedelta(minutes=1)), _rating(5, 999, 3.0, T0))
    assert await pool.fetchval("SELECT rating FROM ratings WHERE user_id = 5 AND movie_id = 1") == 4.0
    assert await pool.fetchval("SELECT count(*) FROM rating_removals") == 0
    assert await pool.fetchval("SELECT pending FROM retrain_counter") == pending
    # The same removal alone is stored.
    assert (await _ingest(pool, _removal(5, 1, T0 + timedelta(minutes=1)))).removed == 1
    assert await pool.fetchval("SELECT count(*) FROM ratings") == 0


async def test_removals_are_set_based(pool: asyncpg.Pool) -> None:
    await add_movies(pool, [(m, f"Movie {m}", 0.0) for m in range(1, 201)])
    await _ingest(pool, *[_rating(u, m, 3.0, T0) for u in range(1, 11) for m in range(1, 201)])
    later = T0 + timedelta(minutes=1)

    async def statements_of(events: list[RatingEvent | RatingRemoved]) -> tuple[int, int]:
        statements: list[str] = []
        async with pool.acquire() as conn:
            conn.add_query_logger(lambda record: statements.append(record.query))
            result = await ratings_repo.ingest(conn, events, retrain_every=100_000)
        return len(statements), result.removed

    few = await statements_of([_removal(1, 200, later), _rating(1, 199, 1.0, later)])
    many = await statements_of([_removal(u, m, later) for u in range(1, 11) for m in range(1, 101)]
                               + [_rating(u, 150, 1.0, later) for u in range(1, 11)])
    assert (few[1], many[1]) == (1, 1000)
    assert few[0] == many[0]  # as many statements for 1010 events as for 2: none per event
    assert await pool.fetchval("SELECT count(*) FROM ratings") == 999
