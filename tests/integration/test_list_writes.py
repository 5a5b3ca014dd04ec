"""Writing lists (infra/repositories/suggestions.py, rerank.py): a list is never replaced
by an older one, and a re-rank's inputs are one read of one snapshot."""

from __future__ import annotations

import asyncpg
import numpy as np
import pytest

from infra.repositories import models as models_repo
from infra.repositories import movies as movies_repo
from infra.repositories import ratings as ratings_repo
from infra.repositories import rerank as rerank_repo
from infra.repositories import suggestions as suggestions_repo
from tests.integration.api.support import add_model, add_movies, add_rating

MOVIES = [(i, f"Movie {i}", float(100 - i)) for i in range(1, 9)]


@pytest.fixture
async def seeded(pool: asyncpg.Pool) -> asyncpg.Pool:
    await add_movies(pool, MOVIES)
    await add_model(pool, "v1", active=True)
    await add_model(pool, "v2")
    return pool


async def _snapshot(pool: asyncpg.Pool) -> int:
    async with pool.acquire() as conn:
        return (await ratings_repo.rated_pairs(conn, [])).rated_from


async def _write(pool: asyncpg.Pool, user: int, movies: list[int], version: str, rated_from: int,
                 made_by: str) -> list[int]:
    """The list written, as the speed layer writes it; returns the users whose list was kept."""
    rows = [(user, movie, 10.0 - i) for i, movie in enumerate(movies)]
    async with pool.acquire() as conn:
        return await suggestions_repo.replace_lists(conn, [user], rows, version, rated_from=rated_from,
                                                    made_by=made_by)


async def _list(pool: asyncpg.Pool, user: int) -> tuple[list[int], str, str]:
    row = await pool.fetchrow("SELECT movie_ids, model_version, made_by FROM user_lists WHERE user_id = $1",
                              user)
    assert row is not None
    return list(row["movie_ids"]), row["model_version"], row["made_by"]


async def _newer_snapshot(pool: asyncpg.Pool, than: int) -> int:
    """A snapshot xmin past ``than`` (a transaction committed in between)."""
    await add_rating(pool, 99, 8)
    newer = await _snapshot(pool)
    assert newer > than
    return newer


async def test_a_batch_list_read_before_a_realtime_one_does_not_replace_it(seeded: asyncpg.Pool) -> None:
    batch_read = await _snapshot(seeded)  # a prediction job reads ...
    realtime_read = await _newer_snapshot(seeded, batch_read)  # ... the speed layer reads later
    assert await _write(seeded, 7, [1, 2], "v1", realtime_read, "realtime") == []  # ... and writes first
    assert await _write(seeded, 7, [3, 4], "v1", batch_read, "batch") == [7]
    assert await _list(seeded, 7) == ([1, 2], "v1", "realtime")
    # A list read from the same or a newer snapshot replaces it.
    assert await _write(seeded, 7, [5, 6], "v1", realtime_read, "batch") == []
    assert await _list(seeded, 7) == ([5, 6], "v1", "batch")


async def test_a_list_of_a_version_no_longer_active_does_not_replace_the_active_ones(
        seeded: asyncpg.Pool) -> None:
    read = await _snapshot(seeded)
    await _write(seeded, 7, [1, 2], "v1", read, "batch")
    async with seeded.acquire() as conn:
        await models_repo.activate(conn, "v2")
    await _write(seeded, 7, [3, 4], "v2", read, "batch")  # the new version's fan-out
    later = await _newer_snapshot(seeded, read)
    # A round that read before the activation: kept out, and its user named to go again.
    assert await _write(seeded, 7, [5, 6], "v1", later, "realtime") == [7]
    assert await _list(seeded, 7) == ([3, 4], "v2", "batch")
    # The active version's list replaces another version's, whatever its snapshot.
    async with seeded.acquire() as conn:
        await models_repo.activate(conn, "v1")
    await _write(seeded, 7, [5, 6], "v1", read, "batch")
    assert await _list(seeded, 7) == ([5, 6], "v1", "batch")


async def test_a_new_users_list_is_written_whatever_its_version(seeded: asyncpg.Pool) -> None:
    await _write(seeded, 8, [1, 2], "v2", await _snapshot(seeded), "realtime")
    assert await _list(seeded, 8) == ([1, 2], "v2", "realtime")


async def test_the_rerank_read_is_what_the_separate_reads_give(seeded: asyncpg.Pool) -> None:
    for user, movie in [(1, 1), (1, 3), (2, 2), (3, 5)]:
        await add_rating(seeded, user, movie)
    await seeded.execute("INSERT INTO hidden_items (user_id, movie_id, hidden, hidden_at, event_id) "
                         "VALUES (1, 4, true, now(), gen_random_uuid())")
    async with seeded.acquire() as conn:
        read = await rerank_repo.rerank_inputs(conn, [1, 2])
        active = await models_repo.active(conn)
        catalogue = await movies_repo.all_ids(conn)
        rated = await ratings_repo.rated_pairs(conn, [1, 2])
    assert read.active == active
    assert np.array_equal(read.catalogue, catalogue)
    pairs = sorted(zip(read.rated.user_ids.tolist(), read.rated.movie_ids.tolist(), strict=True))
    assert pairs == sorted(zip(rated.user_ids.tolist(), rated.movie_ids.tolist(), strict=True))
    assert pairs == [(1, 1), (1, 3), (2, 2)]
    assert (read.rated.hidden_user_ids.tolist(), read.rated.hidden_movie_ids.tolist()) == ([1], [4])
    assert read.rated.rated_from <= rated.rated_from


async def test_the_rerank_read_without_a_model_says_so(pool: asyncpg.Pool) -> None:
    await add_movies(pool, MOVIES[:2])
    async with pool.acquire() as conn:
        read = await rerank_repo.rerank_inputs(conn, [1])
    assert read.active is None
    assert read.catalogue.tolist() == [1, 2]
    assert read.rated.user_ids.size == 0
