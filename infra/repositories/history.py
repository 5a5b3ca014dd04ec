"""A user's own ratings as the API and the page show them: newest first, with the movies' cards."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

# $1 user, $2 limit, $3 offset. The user's ratings are a range of the primary key,
# sorted here: a person's ratings are few enough that an index by time would cost the
# ingest more than it saves this read.
HISTORY_SQL = """
SELECT (SELECT count(*) FROM ratings WHERE user_id = $1) AS total,
       (SELECT '[' || string_agg(m.card || ',"rating":' || r.rating::float8
                                 || CASE WHEN r.rating = trunc(r.rating) THEN '.0' ELSE '' END
                                 || ',"rated_at":' || to_json(r.rated_at)::text || '}', ','
                                 ORDER BY r.rated_at DESC, r.movie_id) || ']'
        FROM (SELECT movie_id, rating, rated_at FROM ratings WHERE user_id = $1
              ORDER BY rated_at DESC, movie_id LIMIT $2 OFFSET $3) r
        JOIN movies m ON m.id = r.movie_id) AS items
"""


@dataclass(frozen=True, slots=True)
class History:
    total: int  # every rating of the user
    items_json: str  # the page asked for: [{"id", "title", "overview", "rating", "rated_at"}]


async def ratings_of(pool: asyncpg.Pool, user_id: int, limit: int, offset: int) -> History:
    """The user's ratings ``offset`` to ``offset + limit``, newest first (one statement)."""
    row = await pool.fetchrow(HISTORY_SQL, user_id, limit, offset)
    assert row is not None
    return History(int(row["total"]), row["items"] or "[]")
