"""``hidden_items``: the movies users are not interested in (migration 0011).

A batch of hide/unhide events is stored in one statement. Per (user, movie) the latest
event wins, by ``at`` and then event id, over the batch and over the stored row; an
unhide keeps its row with ``hidden`` false (a tombstone), so an older hide arriving
later still loses. A redelivered or replayed event is never newer than the row it made,
so it changes nothing. Every stored change takes its transaction's id as
``ingest_xid``: the serve queries find hides newer than a list by it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from infra.repositories import Connection
from schemas.events import HiddenEvent

_STORE = """
WITH input AS (
    SELECT * FROM unnest($1::int[], $2::int[], $3::bool[], $4::timestamptz[], $5::uuid[])
        AS f (user_id, movie_id, hidden, at, event_id)
), latest AS (
    SELECT DISTINCT ON (user_id, movie_id) *
    FROM input
    ORDER BY user_id, movie_id, at DESC, event_id DESC
)
INSERT INTO hidden_items AS h (user_id, movie_id, hidden, hidden_at, event_id)
SELECT user_id, movie_id, hidden, at, event_id FROM latest
ORDER BY user_id, movie_id  -- rows locked in one order: two writers never deadlock
ON CONFLICT (user_id, movie_id) DO UPDATE
    SET hidden = EXCLUDED.hidden, hidden_at = EXCLUDED.hidden_at, event_id = EXCLUDED.event_id,
        ingest_xid = pg_current_xact_id()
    -- The same event again (a retry with its idempotency key, a redelivery) changes nothing.
    WHERE (EXCLUDED.hidden_at, EXCLUDED.event_id) > (h.hidden_at, h.event_id)
      AND EXCLUDED.event_id <> h.event_id
RETURNING h.hidden
"""


@dataclass(frozen=True)
class HiddenStored:
    received: int
    hides: int  # rows now hidden that this batch changed
    unhides: int  # rows now shown again that this batch changed


async def store(conn: Connection, events: Sequence[HiddenEvent]) -> HiddenStored:
    """Store a batch of validated hides and unhides (movies must exist) in one statement."""
    if not events:
        return HiddenStored(0, 0, 0)
    rows = await conn.fetch(
        _STORE,
        [e.user_id for e in events], [e.movie_id for e in events], [e.hidden for e in events],
        [e.at for e in events], [UUID(e.event_id) for e in events],
    )
    hides = sum(1 for row in rows if row[0])
    return HiddenStored(len(events), hides, len(rows) - hides)


async def hidden_movies(conn: Connection, user_id: int) -> list[int]:
    """The movies ``user_id`` hides now, by id."""
    rows = await conn.fetch(
        "SELECT movie_id FROM hidden_items WHERE user_id = $1 AND hidden ORDER BY movie_id", user_id)
    return [row[0] for row in rows]
