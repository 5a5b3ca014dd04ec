"""What the suggestions API reads: a user's top suggestions, or popular movies.

The common request (the first page of a list, no genre) is one primary-key read,
:data:`FIRST_PAGE_SQL`; any other, and a user without a list or with nothing left in it,
is answered by :data:`LIST_SQL` alone, one row in one round trip:

* the user's list (``user_lists``, one row read by primary key), best first, its items
  already rendered as the API's JSON when the list was written. Ratings stored after
  the list's writer read the user's ratings are left out here: an index range of
  ``ratings (user_id, ingest_xid)`` from the list's ``rated_from``, almost always
  empty, so the common case is the row's first items joined, and a just-stored rating
  is still never served (migration 0008). Movies the user hid ("not interested") are
  left out by the same rule, through ``hidden_items (user_id, ingest_xid)`` (migration
  0011): a second range, as rarely non-empty;
* when none is left (a new user, or every suggestion rated or hidden), the most popular
  movies the user has neither rated nor hidden: the cold-start list;
* the version of the model that made the list, how it was made, and the active version.

Two statements, not one holding every case: Postgres sets up a statement's whole plan
on each execution, so the common request costs it less than a statement that also
holds the popular movies and the pages (``bench api`` measures both).

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

# The common request, the first page of the user's list: one primary-key read. Ratings
# stored since the list's writer read the user's ratings are left out: an index range
# of ratings (user_id, ingest_xid) from the list's rated_from, almost always empty, so
# the common case is the row's first items joined, and a just-stored rating is still
# never served (migration 0008); hidden movies by the same rule (migration 0011). No
# row, or no item left, and LIST_SQL answers the request alone, in its own snapshot.
FIRST_PAGE_SQL = """
SELECT l.model_version, l.made_by,
       CASE WHEN NOT EXISTS (SELECT 1 FROM ratings r
                             WHERE r.user_id = $1 AND r.ingest_xid >= l.rated_from)
                 AND NOT EXISTS (SELECT 1 FROM hidden_items h
                                 WHERE h.user_id = $1 AND h.ingest_xid >= l.rated_from AND h.hidden)
            THEN array_to_string(l.items[1:$2], ',')
            ELSE (SELECT string_agg(u.item, ',' ORDER BY u.position) FROM (
                      SELECT u.item, u.position
                      FROM unnest(l.movie_ids, l.items) WITH ORDINALITY AS u (movie_id, item, position)
                      WHERE u.movie_id <> ALL (ARRAY(
                          SELECT r.movie_id FROM ratings r
                          WHERE r.user_id = $1 AND r.ingest_xid >= l.rated_from
                          UNION ALL
                          SELECT h.movie_id FROM hidden_items h
                          WHERE h.user_id = $1 AND h.ingest_xid >= l.rated_from AND h.hidden))
                      ORDER BY u.position
                      LIMIT $2) u)
       END AS items
FROM user_lists l
WHERE l.user_id = $1
"""


# Any request: the user's list without what was rated or hidden since it was written,
# paged ($3: offset) and, when $4 is not null, only the movies of genre $4; else the
# popular movies under the same rules. The source is decided by the whole (filtered)
# list, not by the page: a page past the end of a personal list is empty, not popular
# movies.
LIST_SQL = """
WITH list AS (
    SELECT l.model_version, l.made_by, l.movie_ids, l.items,
           ARRAY(SELECT r.movie_id FROM ratings r
                 WHERE r.user_id = $1 AND r.ingest_xid >= l.rated_from
                 UNION ALL
                 SELECT h.movie_id FROM hidden_items h
                 WHERE h.user_id = $1 AND h.ingest_xid >= l.rated_from AND h.hidden) AS rated_since
    FROM user_lists l
    WHERE l.user_id = $1
), personal AS (
    SELECT u.item, u.position
    FROM list l
    CROSS JOIN LATERAL unnest(l.movie_ids, l.items) WITH ORDINALITY AS u (movie_id, item, position)
    WHERE u.movie_id <> ALL (l.rated_since)
      AND ($4::text IS NULL OR EXISTS (SELECT 1 FROM movies m
                                       WHERE m.id = u.movie_id AND m.genres @> ARRAY[$4::text]))
), popular AS (
    SELECT m.card, m.popularity, m.id
    FROM movies m
    WHERE NOT EXISTS (SELECT 1 FROM personal)
      AND ($4::text IS NULL OR m.genres @> ARRAY[$4::text])
      AND NOT EXISTS (SELECT 1 FROM ratings r WHERE r.user_id = $1 AND r.movie_id = m.id)
      AND NOT EXISTS (SELECT 1 FROM hidden_items h WHERE h.user_id = $1 AND h.movie_id = m.id AND h.hidden)
    ORDER BY m.popularity DESC, m.id
    -- offset + limit at most. A constant, not "$3 + $2": under a parameter the generic
    -- plan expects a handful of rows and may compare every movie with every rating.
    LIMIT :popular_max
)
SELECT (SELECT version_name FROM model_versions WHERE is_active) AS active_version,
       (SELECT model_version FROM list WHERE EXISTS (SELECT 1 FROM personal)) AS personal_version,
       (SELECT made_by FROM list WHERE EXISTS (SELECT 1 FROM personal)) AS made_by,
       coalesce((SELECT string_agg(p.item, ',' ORDER BY p.position)
                 FROM (SELECT * FROM personal ORDER BY position OFFSET $3 LIMIT $2) p),
                (SELECT string_agg(list_item(p.card, p.popularity), ',' ORDER BY p.popularity DESC, p.id)
                 FROM (SELECT * FROM popular ORDER BY popularity DESC, id OFFSET $3 LIMIT $2) p)) AS items,
       ($4::text IS NULL OR EXISTS (SELECT 1 FROM movies WHERE genres @> ARRAY[$4::text])) AS known_genre
""".replace(":popular_max", str(2 * LIMIT_MAX))


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
    known_genre: bool = True  # false when a genre was asked for that no movie has

    @property
    def suggestions(self) -> list[Suggestion]:
        return [Suggestion(int(item["id"]), item["title"], item["overview"], float(item["score"]))
                for item in json.loads(self.suggestions_json)]

    def to_json(self) -> str:
        """The API's response body, the suggestions spliced in as rendered."""
        return (f'{{"user_id":{self.user_id},"model_version":{json.dumps(self.model_version)},'
                f'"source":"{self.source}","made_by":{json.dumps(self.made_by)},'
                f'"suggestions":{self.suggestions_json}}}')


async def suggestions_for(pool: asyncpg.Pool, user_id: int, limit: int, offset: int = 0,
                          genre: str | None = None) -> Served:
    """The user's unrated suggestions ``offset`` to ``offset + limit`` (of ``genre`` only,
    if given), or popular unrated movies (one query; two when the fast path has no row)."""
    if offset == 0 and genre is None:
        row = await pool.fetchrow(FIRST_PAGE_SQL, user_id, limit)
        if row is not None and row["items"]:
            return Served(user_id, "model", row["model_version"], f'[{row["items"]}]',
                          _made_by(row["made_by"]))
    row = await pool.fetchrow(LIST_SQL, user_id, limit, offset, genre)
    assert row is not None  # a SELECT without FROM always returns its one row
    items = f'[{row["items"] or ""}]'
    known = genre is None or bool(row["known_genre"])
    if row["personal_version"] is not None:
        return Served(user_id, "model", row["personal_version"], items, _made_by(row["made_by"]), known)
    return Served(user_id, "popular", row["active_version"], items, known_genre=known)


def _made_by(stored: str) -> MadeBy:
    return "realtime" if stored == "realtime" else "batch"
