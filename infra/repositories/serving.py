"""What the suggestions API reads: a user's top suggestions, or popular movies, in one query.

One statement answers a request in one round trip and returns one row:

* the user's suggestions, best first by the ranking model's score (``value``; ties by
  movie id), each shown with the SVD's predicted rating as its score, leaving out those marked
  ``did_rate`` *and* those with a row in ``ratings`` (a rating stored after the last
  prediction is excluded at once, before the pipeline marks ``did_rate``);
* when none is left (a new user, or every suggestion rated), the most popular movies the
  user has not rated: the cold-start list;
* the version of the model that made the suggestions, and the active model's version;
* the list itself already rendered as a JSON array by Postgres (each movie's stored
  JSON ``card`` and its score), so the API splices it into its response instead of
  decoding rows and encoding them again.

asyncpg prepares the statement once per pooled connection (its statement cache) and
then only binds and executes it; the statement is written so that Postgres's *generic*
plan for it (used after a few executions) is as good as a plan made for each user id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

import asyncpg

Source = Literal["model", "popular"]
MadeBy = Literal["batch", "realtime"]

LIMIT_MAX = 200  # the longest list a request may ask for (the API's and the CLI's bound)

SUGGESTIONS_SQL = """
WITH personal AS (
    SELECT s.movie_id, s.value AS rank, coalesce(s.predicted_rating, s.value) AS score,
           s.model_version, s.made_by
    FROM suggestions s
    WHERE s.user_id = $1 AND NOT s.did_rate
      AND NOT EXISTS (SELECT 1 FROM ratings r WHERE r.user_id = $1 AND r.movie_id = s.movie_id)
    ORDER BY s.value DESC, s.movie_id
    -- A constant bound (LIMIT_MAX), not $2: under "LIMIT $2" the generic plan expects
    -- a handful of rows and compares every suggestion with every rating of the user
    -- instead of hashing the ratings once.
    LIMIT :limit_max
), popular AS (
    SELECT m.id AS movie_id, m.popularity AS rank, m.popularity AS score
    FROM movies m
    WHERE NOT EXISTS (SELECT 1 FROM personal)
      AND NOT EXISTS (SELECT 1 FROM ratings r WHERE r.user_id = $1 AND r.movie_id = m.id)
    ORDER BY m.popularity DESC, m.id
    LIMIT :limit_max
), picked AS (
    SELECT movie_id, rank, score FROM personal
    UNION ALL
    SELECT movie_id, rank, score FROM popular
    ORDER BY rank DESC, movie_id
    LIMIT $2
)
SELECT (SELECT version_name FROM model_versions WHERE is_active) AS active_version,
       (SELECT model_version FROM personal LIMIT 1) AS personal_version,
       (SELECT made_by FROM personal LIMIT 1) AS made_by,
       -- movies.card is the movie's JSON object without its closing brace (migration 0004).
       -- float8 text is the shortest exact form, as in Python, but whole numbers lack
       -- the ".0" that keeps them floats for typed JSON clients.
       (SELECT '[' || string_agg(m.card || ',"score":' || p.score
                                 || CASE WHEN p.score = trunc(p.score) AND abs(p.score) < 1e15
                                         THEN '.0' ELSE '' END || '}',
                                 ',' ORDER BY p.rank DESC, p.movie_id) || ']'
        FROM picked p
        -- LIMIT 1 keeps this a primary-key lookup for each picked row; as a plain join,
        -- a generic plan may hash the whole movies table on every request.
        CROSS JOIN LATERAL (SELECT card FROM movies WHERE id = p.movie_id LIMIT 1) m) AS items
""".replace(":limit_max", str(LIMIT_MAX))


@dataclass(frozen=True, slots=True)
class Suggestion:
    id: int
    title: str
    overview: str
    score: float


@dataclass(frozen=True, slots=True)
class Served:
    """What one request serves: where the list comes from, which model made it, and the
    list as the JSON array Postgres rendered (``[{"id", "title", "overview", "score"}]``)."""

    user_id: int
    source: Source
    model_version: str | None
    suggestions_json: str
    made_by: MadeBy | None = None  # how a personal list was made; None for popular movies

    @property
    def suggestions(self) -> list[Suggestion]:
        return [Suggestion(int(item["id"]), item["title"], item["overview"], float(item["score"]))
                for item in json.loads(self.suggestions_json)]

    def to_json(self) -> str:
        """The API's response body, the suggestions spliced in as rendered."""
        return (f'{{"user_id":{self.user_id},"model_version":{json.dumps(self.model_version)},'
                f'"source":"{self.source}","made_by":{json.dumps(self.made_by)},'
                f'"suggestions":{self.suggestions_json}}}')


async def suggestions_for(pool: asyncpg.Pool, user_id: int, limit: int) -> Served:
    """The user's ``limit`` best unrated suggestions, or popular unrated movies (one query)."""
    row = await pool.fetchrow(SUGGESTIONS_SQL, user_id, limit)
    assert row is not None  # a SELECT without FROM always returns its one row
    items: str = row["items"] or "[]"
    if row["personal_version"] is not None and items != "[]":
        return Served(user_id, "model", row["personal_version"], items,
                      "realtime" if row["made_by"] == "realtime" else "batch")
    return Served(user_id, "popular", row["active_version"], items)
