"""What the suggestions API reads: a user's top suggestions, or popular movies, in one query.

One statement answers a request in one round trip and returns one row:

* the user's list (``user_lists``, one row read by primary key), best first, its items
  already rendered as the API's JSON when the list was written. Ratings stored after
  the list's writer read the user's ratings are left out here: an index range of
  ``ratings (user_id, ingest_xid)`` from the list's ``rated_from``, almost always
  empty, so the common case is the row's first items joined, and a just-stored rating
  is still never served (migration 0008);
* when none is left (a new user, or every suggestion rated), the most popular movies the
  user has not rated: the cold-start list;
* the version of the model that made the list, how it was made, and the active version.

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
    SELECT l.model_version, l.made_by,
           CASE WHEN NOT EXISTS (SELECT 1 FROM ratings r
                                 WHERE r.user_id = $1 AND r.ingest_xid >= l.rated_from)
                THEN array_to_string(l.items[1:$2], ',')
                ELSE (SELECT string_agg(u.item, ',' ORDER BY u.position) FROM (
                          SELECT u.item, u.position
                          FROM unnest(l.movie_ids, l.items) WITH ORDINALITY AS u (movie_id, item, position)
                          WHERE u.movie_id <> ALL (ARRAY(
                              SELECT r.movie_id FROM ratings r
                              WHERE r.user_id = $1 AND r.ingest_xid >= l.rated_from))
                          ORDER BY u.position
                          LIMIT $2) u)
           END AS items
    FROM user_lists l
    WHERE l.user_id = $1
), popular AS (
    SELECT m.card, m.popularity, m.id
    FROM movies m
    WHERE NOT EXISTS (SELECT 1 FROM personal WHERE items <> '')
      AND NOT EXISTS (SELECT 1 FROM ratings r WHERE r.user_id = $1 AND r.movie_id = m.id)
    ORDER BY m.popularity DESC, m.id
    -- A constant bound (LIMIT_MAX), not $2: under "LIMIT $2" the generic plan expects
    -- a handful of rows and may compare every movie with every rating of the user.
    LIMIT :limit_max
)
SELECT (SELECT version_name FROM model_versions WHERE is_active) AS active_version,
       (SELECT model_version FROM personal WHERE items <> '') AS personal_version,
       (SELECT made_by FROM personal WHERE items <> '') AS made_by,
       coalesce((SELECT nullif(items, '') FROM personal),
                (SELECT string_agg(list_item(p.card, p.popularity), ','
                                   ORDER BY p.popularity DESC, p.id)
                 FROM (SELECT * FROM popular ORDER BY popularity DESC, id LIMIT $2) p)) AS items
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
    items = f'[{row["items"] or ""}]'
    if row["personal_version"] is not None:
        return Served(user_id, "model", row["personal_version"], items,
                      "realtime" if row["made_by"] == "realtime" else "batch")
    return Served(user_id, "popular", row["active_version"], items)
