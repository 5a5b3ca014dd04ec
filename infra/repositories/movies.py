"""``movies``: bulk upsert and existence checks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from infra.repositories import Connection, Ids, packed, unpacked


async def upsert(conn: Connection, movies: Iterable[tuple[int, str, str, float]]) -> int:
    """Insert or update (id, title, overview, popularity) rows in bulk; returns the count."""
    rows = list(movies)
    async with conn.transaction():
        await conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS movies_staging "
            "(id integer, title text, overview text, popularity double precision) "
            "ON COMMIT DELETE ROWS"
        )
        await conn.copy_records_to_table(
            "movies_staging", records=rows, columns=["id", "title", "overview", "popularity"]
        )
        await conn.execute(
            "INSERT INTO movies (id, title, overview, popularity) "
            "SELECT DISTINCT ON (id) id, title, overview, popularity FROM movies_staging ORDER BY id "
            "ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, "
            "overview = EXCLUDED.overview, popularity = EXCLUDED.popularity"
        )
    return len(rows)


async def existing_ids(conn: Connection, movie_ids: Sequence[int]) -> set[int]:
    rows = await conn.fetch("SELECT id FROM movies WHERE id = ANY($1::int[])", list(set(movie_ids)))
    return {row[0] for row in rows}


async def all_ids(conn: Connection) -> Ids:
    """Every movie's id, sorted."""
    value: bytes = await conn.fetchval(f"SELECT {packed('id', order_by='id')} FROM movies")
    return unpacked(value)


async def refresh_popularity(conn: Connection) -> None:
    """Popularity from the ratings themselves (count, then mean), for the cold-start list."""
    await conn.execute(
        "UPDATE movies m SET popularity = s.n + s.mean / 10 FROM "
        "(SELECT movie_id, count(*) AS n, avg(rating) AS mean FROM ratings GROUP BY movie_id) s "
        "WHERE m.id = s.movie_id AND m.popularity IS DISTINCT FROM s.n + s.mean / 10"
    )
