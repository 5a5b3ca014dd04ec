"""Lists read by the API and the page: a movie's similar movies, the popular and latest charts,
genres, a title search, and why a suggestion was made ("because you rated …").

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



@dataclass(frozen=True, slots=True)
class Chart:
    """A list of every movie in one order: its sort key (the score served) and ORDER BY."""

    name: str
    score: str
    order: str


POPULAR = Chart("popular", "popularity", "popularity DESC, id")
# The year of migration 0010: the release year in the title, else the year stored.
LATEST = Chart("latest", "year", "year DESC, created_at DESC, id DESC")
_HAS_GENRE = "genres @> ARRAY[$3::text]"


def chart_sql(chart: Chart, *, genre: bool) -> str:
    """The chart's page (``LIMIT $1 OFFSET $2``) as JSON, of the movies of genre $3 if
    ``genre``, and whether any movie has that genre. Without a genre the statement has no
    filter at all, so its plan is the plain index scan."""
    where = f"WHERE {_HAS_GENRE}" if genre else ""
    known = f"EXISTS (SELECT 1 FROM movies WHERE {_HAS_GENRE})" if genre else "true"
    return f"""
SELECT {known} AS known,
       (SELECT '[' || string_agg(card || ',"score":' || {_SCORE.format(v="key")} || '}}', ','
                                 ORDER BY {chart.order}) || ']'
        FROM (SELECT id, card, popularity, year, created_at, {chart.score} AS key FROM movies {where}
              ORDER BY {chart.order} LIMIT $1 OFFSET $2) m) AS items
"""


_CHARTS = {(chart.name, genre): chart_sql(chart, genre=genre) for chart in (POPULAR, LATEST)
           for genre in (False, True)}


@dataclass(frozen=True, slots=True)
class Page:
    known_genre: bool  # true without a genre
    items_json: str


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


# A title search (migration 0012's trigram index answers both conditions): $1 the words
# as typed, $2 the same as an ILIKE pattern's literal (``like_literal``). A title that
# contains the words comes first, titles starting with them before the others; then
# titles with a word close to them (misspelt: word similarity); then by popularity.
SEARCH_SQL = f"""
SELECT '[' || string_agg(f.card || ',"year":' || f.year || ',"genres":' || to_json(f.genres)::text
                         || ',"score":' || {_SCORE.format(v="f.popularity")} || '}}', ','
                         ORDER BY f.rank, f.closeness DESC, f.popularity DESC, f.id) || ']'
FROM (SELECT m.id, m.card, m.year, m.genres, m.popularity,
             CASE WHEN m.title ILIKE $2 || '%' THEN 0 WHEN m.title ILIKE '%' || $2 || '%' THEN 1
                  ELSE 2 END AS rank,
             word_similarity($1, m.title) AS closeness
      FROM movies m
      WHERE m.title ILIKE '%' || $2 || '%' OR m.title %> $1
      ORDER BY rank, closeness DESC, m.popularity DESC, m.id
      LIMIT $3 OFFSET $4) f
"""


def like_literal(text: str) -> str:
    """``text`` matched literally inside an ILIKE pattern (``%``, ``_`` and ``\\`` escaped)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def search(pool: asyncpg.Pool, words: str, limit: int, offset: int) -> str:
    """Movies whose title matches ``words`` (best match first) as a JSON array of cards with
    ``year``, ``genres`` and ``score`` (the popularity)."""
    items: str | None = await pool.fetchval(SEARCH_SQL, words, like_literal(words), limit, offset)
    return items or "[]"


# Why each of some suggested movies ($2) is suggested to user $1: the rated movie whose
# similar movies (the ranking model's item side, migration 0007) include it, of the
# pairs the best scoring. One statement for the whole list.
BECAUSE_SQL = """
SELECT DISTINCT ON (s.similar_id) s.similar_id, m.title
FROM ratings r
JOIN similar_movies s ON s.movie_id = r.movie_id AND s.similar_id = ANY ($2::int[])
JOIN movies m ON m.id = r.movie_id
WHERE r.user_id = $1
ORDER BY s.similar_id, s.score DESC, r.movie_id
"""


async def because_rated(pool: asyncpg.Pool, user_id: int, movie_ids: Sequence[int]) -> dict[int, str]:
    """For each of ``movie_ids`` that can be explained, the title of the rated movie it is
    most similar to."""
    if not movie_ids:
        return {}
    rows = await pool.fetch(BECAUSE_SQL, user_id, list(movie_ids))
    return {int(row["similar_id"]): str(row["title"]) for row in rows}


async def similar_to(pool: asyncpg.Pool, movie_id: int, limit: int) -> Similar:
    row = await pool.fetchrow(SIMILAR_SQL, movie_id, limit)
    assert row is not None
    return Similar(bool(row["known"]), row["version"], row["items"] or "[]")


async def chart(pool: asyncpg.Pool, which: Chart, limit: int, offset: int, genre: str | None = None) -> Page:
    """A page of ``which`` (POPULAR: ratings count, then mean; LATEST: newest year first),
    only movies of ``genre`` if given, as a JSON array."""
    if genre is None:
        row = await pool.fetchrow(_CHARTS[which.name, False], limit, offset)
    else:
        row = await pool.fetchrow(_CHARTS[which.name, True], limit, offset, genre)
    assert row is not None
    return Page(bool(row["known"]), row["items"] or "[]")


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
