"""The retrain trigger: a counter of new ratings and an outbox of requests to publish."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from infra.repositories import Connection

_BUMP = """
UPDATE retrain_counter c
SET pending = (old.pending + $1) % $2,
    updated_at = now()
FROM (SELECT pending FROM retrain_counter FOR UPDATE) old
RETURNING old.pending + $1 AS total
"""


@dataclass(frozen=True)
class OutboxRequest:
    request_id: str
    reason: str
    new_ratings: int
    created_at: datetime


async def count_new_ratings(conn: Connection, stored: int, threshold: int) -> str | None:
    """Add ``stored`` to the counter (call inside the ratings transaction).

    When the total reaches ``threshold``, one request is put in the outbox (its id is
    returned) for the whole multiples of ``threshold``, and the counter keeps the rest:
    sum(outbox new_ratings) + pending == every rating ever stored.
    """
    if stored <= 0:
        return None
    total: int = await conn.fetchval(_BUMP, stored, threshold)
    if total < threshold:
        return None
    request_id = str(uuid.uuid4())
    await conn.execute(
        "INSERT INTO retrain_outbox (request_id, reason, new_ratings) VALUES ($1, 'threshold', $2)",
        uuid.UUID(request_id), total - total % threshold,
    )
    return request_id


async def pending_count(conn: Connection) -> int:
    value: int = await conn.fetchval("SELECT pending FROM retrain_counter")
    return value


async def unsent(conn: Connection) -> list[OutboxRequest]:
    rows = await conn.fetch(
        "SELECT request_id, reason, new_ratings, created_at FROM retrain_outbox "
        "WHERE sent_at IS NULL ORDER BY created_at"
    )
    return [OutboxRequest(str(r["request_id"]), r["reason"], r["new_ratings"], r["created_at"])
            for r in rows]


async def mark_sent(conn: Connection, request_ids: list[str]) -> None:
    await conn.execute(
        "UPDATE retrain_outbox SET sent_at = now() WHERE request_id = ANY($1::uuid[])",
        [uuid.UUID(r) for r in request_ids],
    )
