"""Hidden movies ("not interested", migration 0011) in the served lists: never shown to
their user, like a rated movie, even when hidden after the list was written; the
store's latest-wins rule (a tombstone per unhide), replays changing nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from infra.repositories import hidden as hidden_repo
from infra.repositories import ratings as ratings_repo
from infra.repositories import suggestions as suggestions_repo
from schemas.events import HiddenEvent
from tests.integration.api.support import add_movies, add_rating, add_suggestions, set_genres

MOVIES = [(i, f"Movie {i}", float(100 - i)) for i in range(1, 13)]  # popularity: 1 is the most popular
T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
async def seeded(pool: asyncpg.Pool) -> asyncpg.Pool:
    await add_movies(pool, MOVIES)
    return pool


def _event(user: int, movie: int, hidden: bool, at: datetime, event_id: str | None = None) -> HiddenEvent:
    return HiddenEvent(event_id=event_id or str(uuid.uuid4()), user_id=user, movie_id=movie,
                       hidden=hidden, at=at)


async def _hide(pool: asyncpg.Pool, user: int, movie: int, hidden: bool = True,
                at: datetime = T0) -> hidden_repo.HiddenStored:
    async with pool.acquire() as conn:
        return await hidden_repo.store(conn, [_event(user, movie, hidden, at)])


async def _ids(client: httpx.AsyncClient, query: str) -> tuple[str, list[int]]:
    body = (await client.get(f"/api/suggestions/?{query}")).json()
    return body["source"], [s["id"] for s in body["suggestions"]]


async def test_a_movie_hidden_after_the_list_is_never_served(client: httpx.AsyncClient,
                                                             seeded: asyncpg.Pool) -> None:
    await add_suggestions(seeded, 7, [(1, 5.0), (2, 4.8), (3, 4.6), (4, 4.4)])
    assert await _ids(client, "user_id=7") == ("model", [1, 2, 3, 4])
    await _hide(seeded, 7, 2)
    assert await _ids(client, "user_id=7") == ("model", [1, 3, 4])
    assert await _ids(client, "user_id=7&limit=2") == ("model", [1, 3])
    assert await _ids(client, "user_id=7&offset=1") == ("model", [3, 4])  # the filtered query
    await _hide(seeded, 8, 3)  # another user's hide changes nothing here
    assert await _ids(client, "user_id=7") == ("model", [1, 3, 4])
    # Unhidden, the movie is in the list the writer made again.
    await _hide(seeded, 7, 2, hidden=False, at=T0 + timedelta(minutes=1))
    assert await _ids(client, "user_id=7") == ("model", [1, 2, 3, 4])


async def test_a_genre_page_leaves_hidden_movies_out(client: httpx.AsyncClient, seeded: asyncpg.Pool) -> None:
    await set_genres(seeded, {1: ["Drama"], 2: ["Drama"], 3: ["Comedy"], 4: ["Drama"]})
    await add_suggestions(seeded, 7, [(1, 5.0), (2, 4.8), (3, 4.6), (4, 4.4)])
    await _hide(seeded, 7, 1)
    assert await _ids(client, "user_id=7&genre=Drama") == ("model", [2, 4])


async def test_a_hide_committed_after_the_writer_read_is_never_served(
        client: httpx.AsyncClient, seeded: asyncpg.Pool) -> None:
    # The writer's race: the hide's transaction is open when the list's writer reads the
    # user's ratings and hidden movies (it cannot see it), and commits before the list does.
    await add_rating(seeded, 7, 6)
    await _hide(seeded, 7, 5)
    async with seeded.acquire() as hider, seeded.acquire() as writer:
        hide = hider.transaction()
        await hide.start()
        await hidden_repo.store(hider, [_event(7, 2, True, T0)])
        read = await ratings_repo.rated_pairs(writer, [7])
        assert (read.movie_ids, read.hidden_movie_ids) == ([6], [5])  # the open hide is not visible
        await hide.commit()
        await suggestions_repo.replace_for_users(
            writer, [7], [(7, 1, 5.0), (7, 2, 4.8), (7, 3, 4.6)], "v1", rated_from=read.rated_from)
    assert await _ids(client, "user_id=7") == ("model", [1, 3])


async def test_the_popular_list_leaves_the_users_hidden_movies_out(client: httpx.AsyncClient,
                                                                   seeded: asyncpg.Pool) -> None:
    await add_rating(seeded, 8, 1)
    await _hide(seeded, 8, 2)
    await _hide(seeded, 8, 4)
    await _hide(seeded, 8, 4, hidden=False, at=T0 + timedelta(seconds=1))
    assert await _ids(client, "user_id=8&limit=4") == ("popular", [3, 4, 5, 6])
    assert await _ids(client, "user_id=8&limit=2&offset=1") == ("popular", [4, 5])
    assert await _ids(client, "user_id=9&limit=3") == ("popular", [1, 2, 3])  # other users: unchanged
    # A list whose every movie is rated or hidden falls back to the popular movies.
    await add_suggestions(seeded, 8, [(3, 4.0), (5, 3.0)], rated=[3])
    await _hide(seeded, 8, 5)
    assert await _ids(client, "user_id=8&limit=3") == ("popular", [4, 6, 7])


async def test_latest_at_wins_and_a_replay_changes_nothing(seeded: asyncpg.Pool) -> None:
    hide = _event(7, 3, True, T0)
    unhide = _event(7, 3, False, T0 + timedelta(minutes=5))
    async with seeded.acquire() as conn:
        assert await hidden_repo.store(conn, [hide]) == hidden_repo.HiddenStored(1, 1, 0)
        assert await hidden_repo.store(conn, [unhide]) == hidden_repo.HiddenStored(1, 0, 1)
        before = await conn.fetchrow("SELECT *, ingest_xid::text AS xid FROM hidden_items")
        # The older hide again (a redelivery), the unhide again (a replay), both in a batch:
        # nothing changes, not even the row's transaction id.
        assert await hidden_repo.store(conn, [hide]) == hidden_repo.HiddenStored(1, 0, 0)
        assert await hidden_repo.store(conn, [unhide, hide]) == hidden_repo.HiddenStored(2, 0, 0)
        assert await conn.fetchrow("SELECT *, ingest_xid::text AS xid FROM hidden_items") == before
        assert await hidden_repo.hidden_movies(conn, 7) == []
        # In one batch, the latest of the (user, movie) wins whatever the order.
        later = _event(7, 3, True, T0 + timedelta(minutes=9))
        assert await hidden_repo.store(conn, [later, _event(7, 3, False, T0 + timedelta(minutes=7))]) == (
            hidden_repo.HiddenStored(2, 1, 0))
        assert await hidden_repo.hidden_movies(conn, 7) == [3]
        # A retry of the same event, made later (an idempotency key's event id): no change.
        stored = await conn.fetchrow("SELECT *, ingest_xid::text AS xid FROM hidden_items")
        retry = _event(7, 3, True, T0 + timedelta(minutes=30), event_id=later.event_id)
        assert await hidden_repo.store(conn, [retry]) == hidden_repo.HiddenStored(1, 0, 0)
        assert await conn.fetchrow("SELECT *, ingest_xid::text AS xid FROM hidden_items") == stored
        read = await ratings_repo.rated_pairs(conn, [7, 8])
        pairs = (read.hidden_user_ids, read.hidden_movie_ids, read.movie_ids)
        assert [ids.tolist() for ids in pairs] == [[7], [3], []]


async def test_a_deleted_movie_takes_its_hides_with_it(seeded: asyncpg.Pool) -> None:
    await _hide(seeded, 7, 12)
    await seeded.execute("DELETE FROM movies WHERE id = 12")
    assert await seeded.fetchval("SELECT count(*) FROM hidden_items") == 0
