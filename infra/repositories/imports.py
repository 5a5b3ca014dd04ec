"""Bulk imports of movies, users and ratings (``streamrec data import | generate``).

Rows go in with COPY into per-transaction staging tables and are merged set-based.
Idempotent: importing the same data again changes no row. Ratings follow the
ingest rules (repositories.ratings): an event id already stored is dropped, the latest
``rated_at`` per (user, movie) wins, and a rated movie is never suggested again; an
import does not count towards a retrain (request one when it is done).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from uuid import UUID

from infra.repositories import Connection, ratings

CHUNK_ROWS = 50_000

MovieRow = tuple[int, str, str, float, list[str]]  # id, title, overview, popularity, genres
RatingRow = tuple[int, int, int, float, datetime, UUID]  # row_no, user, movie, rating, rated_at, event_id

_MOVIES_STAGING = """
CREATE TEMP TABLE movies_import (
    id integer, title text, overview text, popularity double precision, genres text[]
) ON COMMIT DROP
"""

# A MovieLens file has no overview or popularity, and a TMDB file may have no genres:
# each keeps what is stored.
_MERGE_MOVIES = """
INSERT INTO movies AS m (id, title, overview, popularity, genres)
SELECT DISTINCT ON (id) id, title, overview, CASE WHEN $1 THEN popularity ELSE 0 END, genres
FROM movies_import ORDER BY id
ON CONFLICT (id) DO UPDATE SET
    title = EXCLUDED.title,
    overview = CASE WHEN EXCLUDED.overview <> '' THEN EXCLUDED.overview ELSE m.overview END,
    popularity = CASE WHEN $1 THEN EXCLUDED.popularity ELSE m.popularity END,
    genres = CASE WHEN $2 THEN EXCLUDED.genres ELSE m.genres END
WHERE (m.title, m.overview, m.popularity, m.genres) IS DISTINCT FROM (
    EXCLUDED.title,
    CASE WHEN EXCLUDED.overview <> '' THEN EXCLUDED.overview ELSE m.overview END,
    CASE WHEN $1 THEN EXCLUDED.popularity ELSE m.popularity END,
    CASE WHEN $2 THEN EXCLUDED.genres ELSE m.genres END)
RETURNING (xmax = 0) AS inserted
"""

_RATINGS_STAGING = """
CREATE TEMP TABLE ratings_import (
    row_no integer, user_id integer, movie_id integer, rating real, rated_at timestamptz,
    event_id uuid
) ON COMMIT DROP
"""

_MERGE_RATINGS = ratings.upsert_sql("ratings_import")


async def merge_movies(
    conn: Connection, rows: Sequence[MovieRow], *, with_popularity: bool, with_genres: bool = True,
    progress: Callable[[int], None] = lambda n: None,
) -> tuple[int, int]:
    """Insert new movies and update changed ones (call inside a transaction);
    returns (inserted, updated). Without ``with_genres`` (the file names none) stored
    genres are kept."""
    await conn.execute(_MOVIES_STAGING)
    for start in range(0, len(rows), CHUNK_ROWS):
        chunk = rows[start:start + CHUNK_ROWS]
        await conn.copy_records_to_table(
            "movies_import", records=chunk, columns=["id", "title", "overview", "popularity", "genres"]
        )
        progress(len(chunk))
    changed = await conn.fetch(_MERGE_MOVIES, with_popularity, with_genres)
    inserted = sum(1 for row in changed if row["inserted"])
    return inserted, len(changed) - inserted


async def insert_users(conn: Connection, user_ids: Sequence[int]) -> int:
    """Users not yet stored; returns how many were new."""
    status = await conn.execute(
        "INSERT INTO users (id) SELECT DISTINCT u FROM unnest($1::int[]) AS u ORDER BY 1 "
        "ON CONFLICT DO NOTHING",
        list(user_ids),
    )
    return ratings.affected(status)


async def stage_ratings(
    conn: Connection, rows: Sequence[RatingRow], progress: Callable[[int], None] = lambda n: None
) -> None:
    """COPY ratings into this transaction's staging table, in chunks."""
    await conn.execute(_RATINGS_STAGING)
    columns = ["row_no", "user_id", "movie_id", "rating", "rated_at", "event_id"]
    for start in range(0, len(rows), CHUNK_ROWS):
        chunk = rows[start:start + CHUNK_ROWS]
        await conn.copy_records_to_table("ratings_import", records=chunk, columns=columns)
        progress(len(chunk))


async def unknown_movies(conn: Connection, limit: int = 5) -> list[tuple[int, int]]:
    """(movie id, first row_no) of staged ratings whose movie does not exist."""
    rows = await conn.fetch(
        "SELECT s.movie_id, min(s.row_no) AS row_no FROM ratings_import s "
        "WHERE NOT EXISTS (SELECT 1 FROM movies m WHERE m.id = s.movie_id) "
        "GROUP BY s.movie_id ORDER BY 2 LIMIT $1",
        limit,
    )
    return [(row["movie_id"], row["row_no"]) for row in rows]


async def merge_ratings(conn: Connection) -> tuple[int, int]:
    """Store the staged ratings; returns (new users, ratings stored)."""
    users = ratings.affected(await conn.execute(
        "INSERT INTO users (id) SELECT DISTINCT user_id FROM ratings_import "
        "ORDER BY 1 ON CONFLICT DO NOTHING"
    ))
    stored = ratings.affected(await conn.execute(_MERGE_RATINGS))
    return users, stored


async def counts(conn: Connection) -> dict[str, int]:
    """Rows per table, for reports and tests."""
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM movies) AS movies, (SELECT count(*) FROM users) AS users, "
        "(SELECT count(*) FROM ratings) AS ratings"
    )
    assert row is not None
    return {key: int(row[key]) for key in ("movies", "users", "ratings")}
