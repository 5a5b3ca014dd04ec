"""Non-personal lists read by the API: a movie's similar movies, the popular chart, genres.

Each is one statement rendering the JSON list in Postgres from the movies' stored cards
(as the suggestions query does), so the API splices it into its response.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from infra.repositories import Connection

# A score as JSON: float8 text, plus ".0" for whole numbers so typed clients read floats.
_SCORE = ("(CASE WHEN {v} = trunc({v}) AND abs({v}) < 1e15 THEN {v}::text || '.0' "
          "ELSE {v}::text END)")

SIMILAR_SQL = f"""
SELECT EXISTS (SELECT 1 FROM movies WHERE id = $1) AS known,
       (SELECT model_version FROM similar_movies WHERE movie_id = $1 LIMIT 1) AS version,
       (SELECT '[' || string_agg(m.card || ',"score":' || {_SCORE.format(v="s.score")} || '}}', ','
                                 ORDER BY s.score DESC, s.similar_id) || ']'
        FROM (SELECT similar_id, score FROM similar_movies WHERE movie_id = $1
              ORDER BY score DESC, similar_id LIMIT $2) s
        JOIN movies m ON m.id = s.similar_id) AS items
"""

POPULAR_SQL = f"""
SELECT '[' || string_agg(card || ',"score":' || {_SCORE.format(v="popularity")} || '}}', ','
                         ORDER BY popularity DESC, id) || ']'
FROM (SELECT id, card, popularity FROM movies ORDER BY popularity DESC, id LIMIT $1 OFFSET $2) m
"""


# Every genre with its number of movies, by name, as a JSON array.
GENRES_SQL = """
SELECT '[' || string_agg(json_build_object('name', g, 'movies', n)::text, ',' ORDER BY g) || ']'
FROM (SELECT g, count(*) AS n FROM movies CROSS JOIN LATERAL unnest(genres) AS g GROUP BY g) s
"""


@dataclass(frozen=True, slots=True)
class Similar:
    known: bool  # the movie exists
    model_version: str | None
    items_json: str


async def similar_to(pool: asyncpg.Pool, movie_id: int, limit: int) -> Similar:
    row = await pool.fetchrow(SIMILAR_SQL, movie_id, limit)
    assert row is not None
    return Similar(bool(row["known"]), row["version"], row["items"] or "[]")


async def popular(pool: asyncpg.Pool, limit: int, offset: int) -> str:
    """The most popular movies (ratings count, then mean), as a JSON array."""
    items: str | None = await pool.fetchval(POPULAR_SQL, limit, offset)
    return items or "[]"


async def genres(pool: asyncpg.Pool) -> str:
    """``[{"name", "movies"}]``: every genre of a stored movie and how many movies have it."""
    items: str | None = await pool.fetchval(GENRES_SQL)
    return items or "[]"


async def replace_similar(conn: Connection, movie_ids: Sequence[int], similar_ids: Sequence[int],
                          scores: Sequence[float], model_version: str) -> int:
    """Every movie's similar movies, replaced by ``model_version``'s in one transaction."""
    async with conn.transaction():
        await conn.execute("DELETE FROM similar_movies")
        await conn.copy_records_to_table(
            "similar_movies", records=zip(movie_ids, similar_ids, scores, [model_version] * len(scores),
                                          strict=True),
            columns=["movie_id", "similar_id", "score", "model_version"])
    return len(scores)
