"""``impressions`` and ``attributions`` (migration 0016): what users were shown, what they
did next, and the online figures of each version.

Every statement is one set-based round trip for a whole batch; both tables are keyed by
event id, so a redelivered batch changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

from infra.repositories import Connection
from schemas.events import ImpressionEvent

Action = Literal["rating", "hide"]

_STORE = """
INSERT INTO impressions (event_id, user_id, movie_ids, model_version, made_by, source, served_at)
SELECT f.event_id, f.user_id, f.movie_ids::int[], f.model_version, f.made_by, f.source, f.served_at
FROM unnest($1::uuid[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[])
    AS f (event_id, user_id, movie_ids, model_version, made_by, source, served_at)
ON CONFLICT (event_id) DO NOTHING
"""

# Each action is credited to the latest impression of the same user that showed the
# movie within the window before it (an index range of impressions (user_id, served_at)).
_ATTRIBUTE = """
INSERT INTO attributions (event_id, action, impression_id, user_id, movie_id, model_version, made_by,
                          position, rating, acted_at)
SELECT a.event_id, a.action, s.event_id, a.user_id, a.movie_id, s.model_version, s.made_by,
       s.position, a.rating, a.acted_at
FROM unnest($1::uuid[], $2::text[], $3::int[], $4::int[], $5::real[], $6::timestamptz[])
    AS a (event_id, action, user_id, movie_id, rating, acted_at)
CROSS JOIN LATERAL (
    SELECT m.event_id, m.model_version, m.made_by, array_position(m.movie_ids, a.movie_id) AS position
    FROM impressions m
    WHERE m.user_id = a.user_id AND m.served_at <= a.acted_at AND m.served_at > a.acted_at - $7::interval
      AND a.movie_id = ANY (m.movie_ids)
    ORDER BY m.served_at DESC, m.event_id DESC
    LIMIT 1
) s
ON CONFLICT (event_id) DO NOTHING
"""

_ONLINE = """
WITH shown AS (
    SELECT m.event_id, m.user_id, coalesce(m.model_version, '') AS version,
           EXISTS (SELECT 1 FROM attributions a WHERE a.impression_id = m.event_id
                   AND a.action = 'rating') AS rated,
           EXISTS (SELECT 1 FROM attributions a WHERE a.impression_id = m.event_id
                   AND a.action = 'hide') AS hid
    FROM impressions m
    WHERE $1::timestamptz IS NULL OR m.served_at >= $1
), rated AS (
    SELECT coalesce(a.model_version, '') AS version, count(*) AS n, avg(a.rating) AS mean,
           stddev_samp(a.rating) AS sd
    FROM attributions a JOIN impressions m ON m.event_id = a.impression_id
    WHERE a.action = 'rating' AND ($1::timestamptz IS NULL OR m.served_at >= $1)
    GROUP BY 1
)
SELECT s.version, count(*) AS impressions, count(DISTINCT s.user_id) AS users,
       count(*) FILTER (WHERE s.rated) AS hits, count(*) FILTER (WHERE s.hid) AS hides,
       coalesce(max(r.n), 0) AS rated, max(r.mean) AS mean_rating, max(r.sd) AS sd_rating
FROM shown s LEFT JOIN rated r USING (version)
GROUP BY s.version
ORDER BY s.version
"""


@dataclass(frozen=True)
class Attributable:
    """A rating or a hide to attribute (its event id, user, movie and time)."""

    event_id: str
    action: Action
    user_id: int
    movie_id: int
    acted_at: datetime
    rating: float | None = None


@dataclass(frozen=True)
class VersionOnline:
    """One version's impressions and what followed them (``version`` None: lists shown
    before any model)."""

    version: str | None
    impressions: int
    users: int
    hits: int  # impressions followed by a rating of a movie they showed
    hides: int  # impressions followed by a hide of a movie they showed
    rated: int  # ratings attributed
    mean_rating: float | None
    sd_rating: float | None


async def store(conn: Connection, events: Sequence[ImpressionEvent]) -> int:
    """Store a batch of impressions in one statement; returns how many were new."""
    if not events:
        return 0
    status = await conn.execute(
        _STORE,
        [UUID(e.event_id) for e in events], [e.user_id for e in events],
        ["{" + ",".join(map(str, e.movie_ids)) + "}" for e in events],
        [e.model_version for e in events], [e.made_by for e in events], [e.source for e in events],
        [e.served_at for e in events],
    )
    return int(status.split()[-1])


async def attribute(conn: Connection, actions: Sequence[Attributable], window: timedelta) -> int:
    """Credit each action to the impression that showed its movie last within ``window``
    before it; returns how many were attributed now (not before, nor unattributable)."""
    if not actions:
        return 0
    status = await conn.execute(
        _ATTRIBUTE,
        [UUID(a.event_id) for a in actions], [a.action for a in actions], [a.user_id for a in actions],
        [a.movie_id for a in actions], [a.rating for a in actions], [a.acted_at for a in actions], window,
    )
    return int(status.split()[-1])


async def online(conn: Connection, since: datetime | None = None) -> list[VersionOnline]:
    """Every version's online figures over impressions served at or after ``since``
    (None: all of them)."""
    rows = await conn.fetch(_ONLINE, since)
    return [VersionOnline(version=row["version"] or None, impressions=row["impressions"], users=row["users"],
                          hits=row["hits"], hides=row["hides"], rated=row["rated"],
                          mean_rating=None if row["mean_rating"] is None else float(row["mean_rating"]),
                          sd_rating=None if row["sd_rating"] is None else float(row["sd_rating"]))
            for row in rows]
