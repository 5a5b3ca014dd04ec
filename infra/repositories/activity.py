"""What the operator dashboard shows from Postgres: ratings stored per minute, the
retrain requests, and how one user's list was made."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from infra.repositories import Connection


@dataclass(frozen=True)
class Minute:
    start: datetime
    ratings: int


@dataclass(frozen=True)
class RetrainRequested:
    request_id: str
    reason: str
    new_ratings: int
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True)
class ListMade:
    """A user's stored list: which version made it, how, and when."""

    model_version: str
    made_by: str
    updated_at: datetime
    items: int


async def ratings_per_minute(conn: Connection, minutes: int = 60) -> list[Minute]:
    """Ratings stored (or replaced) in each of the last ``minutes`` minutes, oldest
    first, zeros included (an index range of ratings.ingested_at)."""
    rows = await conn.fetch(
        """
        SELECT m.start, count(r.ingested_at) AS ratings
        FROM generate_series(date_trunc('minute', now()) - ($1 - 1) * interval '1 minute',
                             date_trunc('minute', now()), interval '1 minute') AS m (start)
        LEFT JOIN ratings r ON r.ingested_at >= m.start AND r.ingested_at < m.start + interval '1 minute'
        GROUP BY m.start ORDER BY m.start
        """,
        minutes,
    )
    return [Minute(row["start"], int(row["ratings"])) for row in rows]


async def retrain_requests(conn: Connection, limit: int = 20) -> list[RetrainRequested]:
    """The newest retrain requests the ratings counter made (threshold crossings)."""
    rows = await conn.fetch(
        "SELECT request_id::text, reason, new_ratings, created_at, sent_at FROM retrain_outbox "
        "ORDER BY created_at DESC LIMIT $1",
        limit,
    )
    return [RetrainRequested(**dict(row)) for row in rows]


async def list_made(conn: Connection, user_id: int) -> ListMade | None:
    row = await conn.fetchrow(
        "SELECT model_version, made_by, updated_at, cardinality(movie_ids) AS items "
        "FROM user_lists WHERE user_id = $1",
        user_id,
    )
    return ListMade(**dict(row)) if row is not None else None
