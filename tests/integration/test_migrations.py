"""Migrations apply idempotently and the database enforces streamrec's rules."""

import json
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest
from yoyo import get_backend, read_migrations
from yoyo.migrations import MigrationList

from infra import db
from infra.repositories import ratings as ratings_repo
from infra.repositories import suggestions as suggestions_repo
from schemas.errors import StreamrecError


async def test_migrate_twice_applies_nothing_the_second_time(database_url: str) -> None:
    # The fixture already migrated this database once.
    assert db.migrate(database_url) == []


async def _seed(conn: asyncpg.Connection) -> None:
    await conn.execute("INSERT INTO movies (id, title, overview, popularity) VALUES "
                       "(550, 'Fight Club', 'An insomniac…', 9.5), (278, 'Shawshank', '', 8.1)")
    await conn.execute("INSERT INTO users (id) VALUES (123)")


async def test_rows_round_trip(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await _seed(conn)
        event_id = uuid.uuid4()
        rated_at = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
        await conn.execute(
            "INSERT INTO ratings (user_id, movie_id, rating, rated_at, event_id) "
            "VALUES ($1, $2, $3, $4, $5)", 123, 550, 4.5, rated_at, event_id)
        read = await ratings_repo.rated_pairs(conn, [123])
        await suggestions_repo.replace_for_users(conn, [123], [(123, 278, 4.61), (123, 550, 4.2)],
                                                 "v1", rated_from=read.rated_from)
        rating = await conn.fetchrow("SELECT * FROM ratings")
        assert (rating["user_id"], rating["movie_id"], rating["rating"]) == (123, 550, 4.5)
        assert (rating["rated_at"], rating["event_id"]) == (rated_at, event_id)
        rows = await conn.fetch("SELECT * FROM suggestions ORDER BY position")
        assert [(r["movie_id"], r["did_rate"]) for r in rows] == [(278, False), (550, True)]
        assert rows[0]["value"] == pytest.approx(4.61)


@pytest.mark.parametrize("rating", [0.0, 5.5, 3.3, -1.0])
async def test_rating_outside_half_steps_is_refused(pool: asyncpg.Pool, rating: float) -> None:
    async with pool.acquire() as conn:
        await _seed(conn)
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                "INSERT INTO ratings (user_id, movie_id, rating, rated_at, event_id) "
                "VALUES (123, 550, $1, now(), $2)", rating, uuid.uuid4())


async def test_one_rating_per_user_and_movie_and_unique_event_ids(pool: asyncpg.Pool) -> None:
    insert = ("INSERT INTO ratings (user_id, movie_id, rating, rated_at, event_id) "
              "VALUES (123, $1, 4.0, now(), $2)")
    async with pool.acquire() as conn:
        await _seed(conn)
        event_id = uuid.uuid4()
        await conn.execute(insert, 550, event_id)
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(insert, 550, uuid.uuid4())
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(insert, 278, event_id)


async def test_at_most_one_active_model(pool: asyncpg.Pool) -> None:
    insert = ("INSERT INTO model_versions (version_name, rmse, mae, n_ratings, sha256, path, "
              "is_active) VALUES ($1, 0.9, 0.7, 100, repeat('a', 64), '/m', $2)")
    async with pool.acquire() as conn:
        await conn.execute(insert, "v1", True)
        await conn.execute(insert, "v2", False)
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(insert, "v3", True)
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute("UPDATE model_versions SET is_active = true WHERE version_name = 'v2'")


async def test_serving_indexes_exist(pool: asyncpg.Pool) -> None:
    rows = await pool.fetch("SELECT indexdef FROM pg_indexes WHERE tablename IN ('user_lists', 'ratings')")
    definitions = " ".join(row["indexdef"] for row in rows)
    assert "user_lists USING btree (user_id)" in definitions  # one list per user, read by key
    assert "(user_id, ingest_xid) INCLUDE (movie_id)" in definitions  # ratings newer than a list


async def test_a_failing_migration_says_which_object_and_what_to_do(empty_database_url: str) -> None:
    conn = await asyncpg.connect(empty_database_url)
    try:
        await conn.execute("CREATE TABLE movies (id integer)")  # made outside streamrec
    finally:
        await conn.close()
    with pytest.raises(StreamrecError) as raised:
        db.migrate(empty_database_url)
    assert 'relation "movies" already exists' in raised.value.message
    assert "***" in raised.value.message and "streamrec db migrate" in (raised.value.hint or "")


def _apply(url: str, *, before: str | None = None, rollback_from: str | None = None) -> None:
    backend = get_backend(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        every = read_migrations(str(db.MIGRATIONS))
        with backend.lock():
            if rollback_from is not None:
                chosen = MigrationList([m for m in every if m.id >= rollback_from])
                backend.rollback_migrations(backend.to_rollback(chosen))
            else:
                chosen = MigrationList([m for m in every if before is None or m.id < before])
                backend.apply_migrations(backend.to_apply(chosen))
    finally:
        backend.connection.close()


async def test_per_pair_suggestions_become_one_list_per_user_and_back(empty_database_url: str) -> None:
    # A database of migration 0007 (a row per suggestion) upgraded in place: each user's
    # unrated rows become one list in the same order; rolled back, the rows return.
    _apply(empty_database_url, before="0008")
    conn = await asyncpg.connect(empty_database_url)
    try:
        await conn.execute("INSERT INTO movies (id, title) VALUES (1, 'A'), (2, 'B'), (3, 'C')")
        await conn.execute("INSERT INTO users (id) VALUES (5)")
        await conn.execute("INSERT INTO ratings VALUES (5, 2, 4.0, now(), gen_random_uuid())")
        await conn.execute(
            "INSERT INTO suggestions (user_id, movie_id, value, model_version, predicted_rating, made_by) "
            "VALUES (5, 3, 0.7, 'v1', 3.5, 'realtime'), (5, 1, 0.9, 'v1', 4.5, 'realtime'), "
            "(5, 2, 0.8, 'v1', 4.0, 'realtime')")
        _apply(empty_database_url)
        row = await conn.fetchrow("SELECT * FROM user_lists")
        assert (row["user_id"], row["movie_ids"], row["predicted"], row["made_by"]) == (
            5, [1, 3], [4.5, 3.5], "realtime")
        assert [json.loads(item)["title"] for item in row["items"]] == ["A", "C"]
        _apply(empty_database_url, rollback_from="0008")
        rows = await conn.fetch(
            "SELECT movie_id, value, predicted_rating FROM suggestions ORDER BY value DESC")
        assert [tuple(r) for r in rows] == [(1, pytest.approx(0.9), 4.5), (3, pytest.approx(0.7), 3.5)]
    finally:
        await conn.close()


async def test_rating_removals_apply_over_stored_ratings_and_roll_back(empty_database_url: str) -> None:
    # A database of migration 0012 upgraded in place: its ratings stay, removals get their
    # tombstones (one per user and movie, unique event ids); rolled back, the tombstones go
    # and the ratings stay as they are.
    _apply(empty_database_url, before="0013")
    conn = await asyncpg.connect(empty_database_url)
    try:
        await conn.execute("INSERT INTO movies (id, title) VALUES (1, 'A'), (2, 'B')")
        await conn.execute("INSERT INTO users (id) VALUES (5)")
        await conn.execute("INSERT INTO ratings (user_id, movie_id, rating, rated_at, event_id) VALUES "
                           "(5, 1, 4.0, now(), gen_random_uuid()), (5, 2, 3.0, now(), gen_random_uuid())")
        _apply(empty_database_url)
        event_id = uuid.uuid4()
        insert = ("INSERT INTO rating_removals (user_id, movie_id, removed_at, event_id) "
                  "VALUES (5, $1, now(), $2)")
        await conn.execute(insert, 1, event_id)
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(insert, 1, uuid.uuid4())
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(insert, 2, event_id)
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await conn.execute(insert, 3, uuid.uuid4())
        assert await conn.fetchval("SELECT count(*) FROM ratings") == 2
        _apply(empty_database_url, rollback_from="0013")
        assert await conn.fetchval("SELECT to_regclass('rating_removals')") is None
        assert await conn.fetchval("SELECT count(*) FROM ratings") == 2
        _apply(empty_database_url)  # and forward again
        assert await conn.fetchval("SELECT count(*) FROM rating_removals") == 0
    finally:
        await conn.close()


async def test_list_item_renders_the_same_text_once_inlined(empty_database_url: str) -> None:
    # Migration 0014 makes list_item inlinable: the same item text for every kind of
    # score, and Postgres expands it instead of calling it (EXPLAIN shows no call).
    scores = [3.0, 4.25, 0.1 + 0.2, -2.0, 0.0, 1e15, 1e20, 123456.789, 5e-324]
    query = ("SELECT list_item('{\"id\":1', s) FROM unnest($1::float8[]) WITH ORDINALITY AS u (s, i) "
             "ORDER BY i")
    _apply(empty_database_url, before="0014")
    conn = await asyncpg.connect(empty_database_url)
    try:
        before = [row[0] for row in await conn.fetch(query, scores)]
        _apply(empty_database_url)
        after = [row[0] for row in await conn.fetch(query, scores)]
        assert after == before
        assert [json.loads(item)["score"] for item in after] == scores
        plan = "\n".join(row[0] for row in await conn.fetch("EXPLAIN VERBOSE " + query, scores))
        assert "list_item(" not in plan
        _apply(empty_database_url, rollback_from="0014")
        assert [row[0] for row in await conn.fetch(query, scores)] == before
    finally:
        await conn.close()
