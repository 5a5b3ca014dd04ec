"""``user_lists``: each user's list, one row, replaced in bulk by the predictor and the
speed layer (migration 0008 says how a list stays exact without did_rate)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg

from infra.repositories import Connection

Row = tuple[int, int, float] | tuple[int, int, float, float]

# Rows arrive best first per user. One sort of the joined rows by (user, position)
# feeds the aggregates in order (a non-parallel plan, as every writing query's is, hands
# them rows as sorted), instead of a sort per aggregate per user (Postgres 15).
# The items are rendered here, from the movies' cards, so serving concatenates them
# (a changed card re-renders them: rerender_lists, migration 0008).
_UPSERT = """
INSERT INTO user_lists AS l (user_id, movie_ids, rank_values, predicted, items, model_version,
                             made_by, rated_from, updated_at)
SELECT s.user_id, array_agg(s.movie_id), array_agg(s.value), array_agg(s.predicted),
       array_agg(list_item(s.card, s.predicted)), $5, $6, $7::text::xid8, now()
FROM (
    SELECT f.user_id, f.movie_id, f.value, f.predicted, m.card
    FROM unnest($1::int[], $2::int[], $3::float8[], $4::float8[])
        WITH ORDINALITY AS f (user_id, movie_id, value, predicted, position)
    JOIN movies m ON m.id = f.movie_id
    ORDER BY f.user_id, f.position
) s
GROUP BY s.user_id
ORDER BY s.user_id  -- rows locked in one order: two writers never deadlock
ON CONFLICT (user_id) DO UPDATE
    SET movie_ids = EXCLUDED.movie_ids, rank_values = EXCLUDED.rank_values,
        predicted = EXCLUDED.predicted, items = EXCLUDED.items,
        model_version = EXCLUDED.model_version, made_by = EXCLUDED.made_by,
        rated_from = EXCLUDED.rated_from, updated_at = EXCLUDED.updated_at
    -- A list is never replaced by an older one: of the same version, by a list read
    -- from an older snapshot (a batch job that read before the speed layer's re-rank);
    -- of another version, by a list of a version that is no longer the active one
    -- (a round that read before an activation, written after the fan-out's list).
    WHERE (l.model_version <> EXCLUDED.model_version OR l.rated_from <= EXCLUDED.rated_from)
      AND NOT EXISTS (SELECT 1 FROM model_versions v
                      WHERE v.is_active AND v.version_name <> EXCLUDED.model_version)
RETURNING l.user_id
"""


async def replace_for_users(
    conn: Connection,
    user_ids: Sequence[int],
    rows: Sequence[Row],
    model_version: str,
    *,
    rated_from: int,
    made_by: str = "batch",
) -> int:
    """Replace these users' lists by ``rows`` (see :func:`replace_lists`); returns the rows."""
    await replace_lists(conn, user_ids, rows, model_version, rated_from=rated_from, made_by=made_by)
    return len(rows)


async def replace_lists(
    conn: Connection,
    user_ids: Sequence[int],
    rows: Sequence[Row],
    model_version: str,
    *,
    rated_from: int,
    made_by: str = "batch",
) -> list[int]:
    """Replace these users' lists by ``rows``: (user_id, movie_id, value) or (user_id,
    movie_id, value, predicted_rating), best first per user; ``value`` orders the list.
    ``rated_from``: the xmin of the snapshot the users' ratings were read in
    (:func:`infra.repositories.ratings.rated_pairs`); ratings of later transactions are
    excluded when the list is served. ``made_by``: "batch" (a prediction job) or
    "realtime" (the speed layer). A user without rows loses their list.

    One statement per kind of change, in one transaction: readers see a user's old list
    or the new one, never a mix. Returns the users whose list was kept instead, as newer
    (see ``_UPSERT``): of the same version from a newer snapshot, or of the active
    version where ``model_version`` no longer is.
    """
    users = [row[0] for row in rows]
    movies = [row[1] for row in rows]
    values = [row[2] for row in rows]
    predicted = [row[3] if len(row) == 4 else row[2] for row in rows]
    emptied = sorted(set(user_ids) - set(users))
    async with conn.transaction():
        # Lists are derived data, rewritten by the next re-rank or job: their commit need
        # not wait for the WAL flush (a crash loses at most the last moments of lists,
        # never a rating; exclusion reads ratings, which stay synchronous).
        await conn.execute("SET LOCAL synchronous_commit TO off")
        await conn.execute("SET LOCAL work_mem TO '32MB'")  # a job's rows sort in memory
        written: set[int] = set()
        if rows:
            written = {row[0] for row in await conn.fetch(
                _UPSERT, users, movies, values, predicted, model_version, made_by, str(rated_from))}
        if emptied:
            await conn.execute("DELETE FROM user_lists WHERE user_id = ANY($1::int[])", emptied)
    return sorted(set(users) - written)


# Fewer users than this per part: a transaction and a round trip more cost more than
# the part's share of the statement saves (the speed layer's small rounds).
MIN_PART_USERS = 32


async def replace_in_parts(
    pool: asyncpg.Pool,
    user_ids: Sequence[int],
    rows: Sequence[Row],
    model_version: str,
    *,
    rated_from: int,
    parts: int,
    made_by: str = "batch",
) -> int:
    """:func:`replace_for_users` in ``parts`` transactions at once, on connections of
    their own, each for a range of the users: writing a list is Postgres CPU (rendering
    its items, the upsert), and one statement runs on one core. Each user's list is
    still replaced in one transaction; the users' ranges are disjoint, and each part
    locks its rows in user order, so the parts never wait on each other."""
    users = sorted(set(user_ids))
    parts = max(1, min(parts, len(users) // MIN_PART_USERS))
    if parts == 1:
        async with pool.acquire() as conn:
            return await replace_for_users(conn, user_ids, rows, model_version, rated_from=rated_from,
                                           made_by=made_by)
    part_of = {user: i * parts // len(users) for i, user in enumerate(users)}
    users_of: list[list[int]] = [[] for _ in range(parts)]
    rows_of: list[list[Row]] = [[] for _ in range(parts)]
    for user in users:
        users_of[part_of[user]].append(user)
    for row in rows:
        rows_of[part_of[row[0]]].append(row)

    async def write(part: int) -> int:
        async with pool.acquire() as conn:
            return await replace_for_users(conn, users_of[part], rows_of[part], model_version,
                                           rated_from=rated_from, made_by=made_by)

    return sum(await asyncio.gather(*(write(part) for part in range(parts))))


async def users_served_by(conn: Connection, model_version: str) -> int:
    """How many users have a list from ``model_version``."""
    value: int = await conn.fetchval(
        "SELECT count(*) FROM user_lists WHERE model_version = $1", model_version
    )
    return value
