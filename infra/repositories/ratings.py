"""``ratings`` and ``users``: set-based ingest, and the exports the trainer needs."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

import pandas as pd

from infra.repositories import Connection, Ids, no_ids, packed, retrain, unpacked
from schemas.events import RatingEvent, RatingRemoved

# Per-connection staging table, emptied at every commit. A removal is a row without a rating.
_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS ratings_staging (
    user_id integer, movie_id integer, rating real, rated_at timestamptz, event_id uuid
) ON COMMIT DELETE ROWS
"""


def _fresh(staging: str, removals: bool) -> str:
    """The staged ratings (or removals) not stored yet: a redelivered or replayed event
    is dropped by its id, whichever table holds it."""
    return f"""
    SELECT DISTINCT ON (s.event_id) s.*
    FROM {staging} s
    WHERE s.rating IS {"" if removals else "NOT "}NULL
      AND NOT EXISTS (SELECT 1 FROM ratings r WHERE r.event_id = s.event_id)
      AND NOT EXISTS (SELECT 1 FROM rating_removals t WHERE t.event_id = s.event_id)
    ORDER BY s.event_id"""


_LATEST = """
    SELECT DISTINCT ON (user_id, movie_id) *
    FROM fresh
    ORDER BY user_id, movie_id, rated_at DESC, event_id DESC"""


def upsert_sql(staging: str) -> str:
    """Apply the ratings staged in ``staging``: events already stored (a redelivery, a
    replay) are dropped first; of the rest, the latest per (user, movie) is applied,
    only over an older stored rating and only when later than the pair's removal, if
    any (migration 0013: a tie goes to the removal)."""
    return f"""
WITH fresh AS ({_fresh(staging, removals=False)}
), latest AS ({_LATEST}
)
INSERT INTO ratings AS r (user_id, movie_id, rating, rated_at, event_id)
SELECT user_id, movie_id, rating, rated_at, event_id FROM latest l
WHERE NOT EXISTS (SELECT 1 FROM rating_removals t
                  WHERE t.user_id = l.user_id AND t.movie_id = l.movie_id AND t.removed_at >= l.rated_at)
ON CONFLICT (user_id, movie_id) DO UPDATE
    SET rating = EXCLUDED.rating, rated_at = EXCLUDED.rated_at,
        event_id = EXCLUDED.event_id, ingested_at = now(), ingest_xid = pg_current_xact_id()
    WHERE EXCLUDED.rated_at > r.rated_at
"""


_UPSERT = upsert_sql("ratings_staging")

# The batch's removals, before its ratings: the latest per (user, movie) becomes the
# pair's tombstone when later than the stored one, and deletes the stored rating when
# not later than itself. One statement: the DELETE reads what the INSERT returns.
_REMOVE = f"""
WITH fresh AS ({_fresh("ratings_staging", removals=True)}
), latest AS ({_LATEST}
), tombstones AS (
    INSERT INTO rating_removals AS t (user_id, movie_id, removed_at, event_id)
    SELECT user_id, movie_id, rated_at, event_id FROM latest
    ORDER BY user_id, movie_id  -- rows locked in one order: two writers never deadlock
    ON CONFLICT (user_id, movie_id) DO UPDATE
        SET removed_at = EXCLUDED.removed_at, event_id = EXCLUDED.event_id, ingested_at = now()
        WHERE (EXCLUDED.removed_at, EXCLUDED.event_id) > (t.removed_at, t.event_id)
    RETURNING t.user_id, t.movie_id, t.removed_at
)
DELETE FROM ratings r USING tombstones d
WHERE r.user_id = d.user_id AND r.movie_id = d.movie_id AND r.rated_at <= d.removed_at
"""

Event = RatingEvent | RatingRemoved


@dataclass(frozen=True)
class IngestResult:
    received: int
    stored: int  # ratings inserted or replaced
    retrain_request_id: str | None = None  # set when this batch crossed the threshold
    removed: int = 0  # stored ratings the batch's removals deleted


def affected(status: str) -> int:
    """Rows a statement touched, from its status (``INSERT 0 12`` → 12)."""
    return int(status.rsplit(" ", 1)[-1])


async def ingest(
    conn: Connection, events: Sequence[Event], *, retrain_every: int
) -> IngestResult:
    """Store a batch of validated ratings and removals (movies must exist) in one
    transaction, with the retrain counter: a redelivered batch stores nothing and
    counts nothing. Set-based: one statement for the removals, one for the ratings."""
    if not events:
        return IngestResult(0, 0)
    records = [(e.user_id, e.movie_id, e.rating if isinstance(e, RatingEvent) else None, e.rated_at,
                UUID(e.event_id)) for e in events]
    has_removals = any(isinstance(e, RatingRemoved) for e in events)
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
        removed = affected(await conn.execute(_REMOVE)) if has_removals else 0
        stored = affected(await conn.execute(_UPSERT))
        # A removal counts towards a retrain as a changed rating does: the export loses
        # its row. A removal that deleted nothing (no rating, or a later one) counts nothing.
        request_id = await retrain.count_new_ratings(conn, stored + removed, retrain_every)
    return IngestResult(len(events), stored, request_id, removed)


@dataclass(frozen=True)
class RatedPairsRead:
    """Every rating of some users, as two parallel id arrays, the movies they hid ("not
    interested", migration 0011) as two more, and ``rated_from``: the xmin of the
    snapshot all were read in. A rating or hide this read could not see was stored by a
    transaction at or after ``rated_from`` (a list records it; migration 0008).

    The ratings are the users' histories (what the ranking model scores from); the hidden
    movies are only left out of the lists, never taken as history."""

    user_ids: Ids
    movie_ids: Ids
    rated_from: int
    hidden_user_ids: Ids = field(default_factory=no_ids)
    hidden_movie_ids: Ids = field(default_factory=no_ids)


# The ratings (r) and hidden movies (h) of the users $1, each column packed
# (:func:`infra.repositories.packed`): common table expressions for one statement.
RATED_AND_HIDDEN = f"""r AS (
    SELECT {packed("user_id")} AS users, {packed("movie_id")} AS movies
    FROM ratings WHERE user_id = ANY($1::int[])
), h AS (
    SELECT {packed("user_id")} AS users, {packed("movie_id")} AS movies
    FROM hidden_items WHERE user_id = ANY($1::int[]) AND hidden
)"""

_RATED_PAIRS = f"""
WITH {RATED_AND_HIDDEN}
SELECT r.users, r.movies, h.users, h.movies, pg_snapshot_xmin(pg_current_snapshot())::text
FROM r, h
"""


async def rated_pairs(conn: Connection, user_ids: Sequence[int]) -> RatedPairsRead:
    """The ratings and hidden movies of these users, read in one statement (one snapshot)."""
    row = await conn.fetchrow(_RATED_PAIRS, list(user_ids))
    assert row is not None  # aggregates always answer one row
    return RatedPairsRead(unpacked(row[0]), unpacked(row[1]), int(row[4]), unpacked(row[2]),
                          unpacked(row[3]))


# A removal changes the training data without a newer rating row: its tombstone counts.
_NEWEST = ("SELECT greatest((SELECT max(ingested_at) FROM ratings), "
           "(SELECT max(ingested_at) FROM rating_removals))")


async def export(conn: Connection) -> tuple[pd.DataFrame, datetime | None]:
    """All ratings as a DataFrame (user_id, movie_id, rating), via COPY, and the newest
    ``ingested_at`` the export includes, of a rating or a removal (in one snapshot)."""
    buffer = io.BytesIO()
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        newest = await conn.fetchval(_NEWEST)
        await conn.copy_from_query(
            "SELECT user_id, movie_id, rating FROM ratings", output=buffer, format="csv"
        )
    buffer.seek(0)
    # Parsed in a thread: at millions of ratings the parse would hold the event loop
    # (ingest, the speed layer) for seconds.
    frame = await asyncio.to_thread(
        pd.read_csv, buffer, names=["user_id", "movie_id", "rating"],
        dtype={"user_id": "int64", "movie_id": "int64", "rating": "float64"},
    )
    return frame, newest


async def newest_ingested_at(conn: Connection) -> datetime | None:
    """When the data last changed: the newest rating or removal stored."""
    value: datetime | None = await conn.fetchval(_NEWEST)
    return value


async def users_with_ratings(conn: Connection) -> list[int]:
    """Every user with a rating, by id: one probe of the ratings' key per user (a rating
    references its user), not a pass over every rating."""
    value: bytes = await conn.fetchval(
        f"SELECT {packed('u.id', order_by='u.id')} FROM users u "
        "WHERE EXISTS (SELECT 1 FROM ratings r WHERE r.user_id = u.id)")
    users: list[int] = unpacked(value).tolist()
    return users


async def user_count(conn: Connection) -> int:
    value: int = await conn.fetchval("SELECT count(DISTINCT user_id) FROM ratings")
    return value


async def ingested_since(conn: Connection, since: datetime) -> int:
    """Ratings stored or replaced at or after ``since``."""
    value: int = await conn.fetchval("SELECT count(*) FROM ratings WHERE ingested_at >= $1", since)
    return value
