"""``ratings`` and ``users``: set-based ingest, and the exports the trainer needs."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

import pandas as pd

from infra.repositories import Connection, retrain
from schemas.events import RatingEvent

# Per-connection staging table, emptied at every commit.
_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS ratings_staging (
    user_id integer, movie_id integer, rating real, rated_at timestamptz, event_id uuid
) ON COMMIT DELETE ROWS
"""

def upsert_sql(staging: str) -> str:
    """Apply the ratings staged in ``staging``: events already stored (a redelivery, a
    replay) are dropped first; of the rest, the latest per (user, movie) is applied,
    and only over an older stored rating."""
    return f"""
WITH fresh AS (
    SELECT DISTINCT ON (s.event_id) s.*
    FROM {staging} s
    WHERE NOT EXISTS (SELECT 1 FROM ratings r WHERE r.event_id = s.event_id)
    ORDER BY s.event_id
), latest AS (
    SELECT DISTINCT ON (user_id, movie_id) *
    FROM fresh
    ORDER BY user_id, movie_id, rated_at DESC, event_id DESC
)
INSERT INTO ratings AS r (user_id, movie_id, rating, rated_at, event_id)
SELECT user_id, movie_id, rating, rated_at, event_id FROM latest
ON CONFLICT (user_id, movie_id) DO UPDATE
    SET rating = EXCLUDED.rating, rated_at = EXCLUDED.rated_at,
        event_id = EXCLUDED.event_id, ingested_at = now(), ingest_xid = pg_current_xact_id()
    WHERE EXCLUDED.rated_at > r.rated_at
"""


_UPSERT = upsert_sql("ratings_staging")


@dataclass(frozen=True)
class IngestResult:
    received: int
    stored: int  # ratings inserted or replaced: what counts towards a retrain
    retrain_request_id: str | None = None  # set when this batch crossed the threshold


def affected(status: str) -> int:
    """Rows a statement touched, from its status (``INSERT 0 12`` → 12)."""
    return int(status.rsplit(" ", 1)[-1])


async def ingest(
    conn: Connection, events: Sequence[RatingEvent], *, retrain_every: int
) -> IngestResult:
    """Store a batch of validated ratings (movies must exist) in one transaction, with
    the retrain counter: a redelivered batch stores nothing and counts nothing."""
    if not events:
        return IngestResult(0, 0)
    records = [(e.user_id, e.movie_id, e.rating, e.rated_at, UUID(e.event_id)) for e in events]
    async with conn.transaction():
        await conn.execute(_STAGING)
        await conn.copy_records_to_table(
            "ratings_staging",
            records=records,
            columns=["user_id", "movie_id", "rating", "rated_at", "event_id"],
        )
        await conn.execute(
            "INSERT INTO users (id) SELECT DISTINCT user_id FROM ratings_staging "
            "ORDER BY 1 ON CONFLICT DO NOTHING"
        )
        stored = affected(await conn.execute(_UPSERT))
        request_id = await retrain.count_new_ratings(conn, stored, retrain_every)
    return IngestResult(len(events), stored, request_id)


@dataclass(frozen=True)
class RatedPairsRead:
    """Every rating of some users, as two parallel lists, the movies they hid ("not
    interested", migration 0011) as two more, and ``rated_from``: the xmin of the
    snapshot all were read in. A rating or hide this read could not see was stored by a
    transaction at or after ``rated_from`` (a list records it; migration 0008).

    The ratings are the users' histories (what the ranking model scores from); the hidden
    movies are only left out of the lists, never taken as history."""

    user_ids: list[int]
    movie_ids: list[int]
    rated_from: int
    hidden_user_ids: list[int] = field(default_factory=list)
    hidden_movie_ids: list[int] = field(default_factory=list)


_RATED_PAIRS = """
WITH r AS (
    SELECT coalesce(array_agg(user_id), '{}') AS users, coalesce(array_agg(movie_id), '{}') AS movies
    FROM ratings WHERE user_id = ANY($1::int[])
), h AS (
    SELECT coalesce(array_agg(user_id), '{}') AS users, coalesce(array_agg(movie_id), '{}') AS movies
    FROM hidden_items WHERE user_id = ANY($1::int[]) AND hidden
)
SELECT r.users, r.movies, h.users, h.movies, pg_snapshot_xmin(pg_current_snapshot())::text
FROM r, h
"""


async def rated_pairs(conn: Connection, user_ids: Sequence[int]) -> RatedPairsRead:
    """The ratings and hidden movies of these users, read in one statement (one snapshot).

    Arrays in one row rather than a row per rating: decoding ~100k record objects per
    prediction job cost more than scoring the job."""
    row = await conn.fetchrow(_RATED_PAIRS, list(user_ids))
    assert row is not None  # aggregates always answer one row
    return RatedPairsRead(list(row[0]), list(row[1]), int(row[4]), list(row[2]), list(row[3]))


async def export(conn: Connection) -> tuple[pd.DataFrame, datetime | None]:
    """All ratings as a DataFrame (user_id, movie_id, rating), via COPY, and the newest
    ``ingested_at`` the export includes (in one snapshot)."""
    buffer = io.BytesIO()
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        newest = await conn.fetchval("SELECT max(ingested_at) FROM ratings")
        await conn.copy_from_query(
            "SELECT user_id, movie_id, rating FROM ratings", output=buffer, format="csv"
        )
    buffer.seek(0)
    frame = pd.read_csv(
        buffer, names=["user_id", "movie_id", "rating"],
        dtype={"user_id": "int64", "movie_id": "int64", "rating": "float64"},
    )
    return frame, newest


async def newest_ingested_at(conn: Connection) -> datetime | None:
    value: datetime | None = await conn.fetchval("SELECT max(ingested_at) FROM ratings")
    return value


async def users_with_ratings(conn: Connection) -> list[int]:
    rows = await conn.fetch("SELECT DISTINCT user_id FROM ratings ORDER BY user_id")
    return [row[0] for row in rows]


async def user_count(conn: Connection) -> int:
    value: int = await conn.fetchval("SELECT count(DISTINCT user_id) FROM ratings")
    return value


async def ingested_since(conn: Connection, since: datetime) -> int:
    """Ratings stored or replaced at or after ``since``."""
    value: int = await conn.fetchval("SELECT count(*) FROM ratings WHERE ingested_at >= $1", since)
    return value
