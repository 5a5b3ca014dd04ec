"""What the suggestions API reads: a user's top suggestions, or popular movies, in one query.

One statement answers a request in one round trip:

* the user's suggestions, best first (ties by movie id), leaving out those marked
  ``did_rate`` *and* those with a row in ``ratings`` (a rating stored after the last
  prediction is excluded at once, before the pipeline marks ``did_rate``);
* when none is left (a new user, or every suggestion rated), the most popular movies the
  user has not rated: the cold-start list;
* the active model's version, on every row and on the one row returned when there is
  nothing at all to suggest.

asyncpg prepares the statement once per pooled connection (its statement cache) and
then only binds and executes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import asyncpg

Source = Literal["model", "popular"]

SUGGESTIONS_SQL = """
WITH personal AS (
    SELECT s.movie_id, m.title, m.overview, s.value AS score, s.model_version
    FROM suggestions s
    JOIN movies m ON m.id = s.movie_id
    WHERE s.user_id = $1 AND s.did_rate = false
      AND NOT EXISTS (SELECT 1 FROM ratings r WHERE r.user_id = $1 AND r.movie_id = s.movie_id)
    ORDER BY s.value DESC, s.movie_id
    LIMIT $2
), popular AS (
    SELECT m.id AS movie_id, m.title, m.overview, m.popularity AS score
    FROM movies m
    WHERE NOT EXISTS (SELECT 1 FROM personal)
      AND NOT EXISTS (SELECT 1 FROM ratings r WHERE r.user_id = $1 AND r.movie_id = m.id)
    ORDER BY m.popularity DESC, m.id
    LIMIT $2
), picked AS (
    SELECT 'model' AS source, movie_id, title, overview, score, model_version FROM personal
    UNION ALL
    SELECT 'popular', movie_id, title, overview, score, NULL FROM popular
)
SELECT a.active_version, p.source, p.movie_id, p.title, p.overview, p.score, p.model_version
FROM (SELECT (SELECT version_name FROM model_versions WHERE is_active) AS active_version) a
LEFT JOIN picked p ON true
ORDER BY p.score DESC, p.movie_id
"""


@dataclass(frozen=True, slots=True)
class Suggestion:
    id: int
    title: str
    overview: str
    score: float


@dataclass(frozen=True, slots=True)
class Served:
    """What one request serves: where the list comes from and which model made it."""

    user_id: int
    source: Source
    model_version: str | None
    suggestions: list[Suggestion]


async def suggestions_for(pool: asyncpg.Pool, user_id: int, limit: int) -> Served:
    """The user's ``limit`` best unrated suggestions, or popular unrated movies (one query)."""
    rows = await pool.fetch(SUGGESTIONS_SQL, user_id, limit)
    active: str | None = rows[0]["active_version"] if rows else None
    items = [
        Suggestion(row["movie_id"], row["title"], row["overview"], row["score"])
        for row in rows
        if row["movie_id"] is not None
    ]
    if items and rows[0]["source"] == "model":
        return Served(user_id, "model", rows[0]["model_version"], items)
    return Served(user_id, "popular", active, items)
