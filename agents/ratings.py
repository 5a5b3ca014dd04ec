"""The ratings agent: validate, persist in bulk, count towards a retrain, mark the users to re-rank.

The topic carries ratings and their removals (``"op": "remove"``, :mod:`schemas.ratings`);
a batch stores both in one transaction, and the users of either are re-ranked (a removed
movie may be suggested again).

Events arrive in batches (:class:`streams.batch_consumer.BatchConsumer`, everything
fetched so far, up to ``agents.event_batches.BATCH_MAX``) and their offsets are committed only after their
effect is durable: rows committed in Postgres, bad events delivered to the dead-letter
topic. A crash before that redelivers the batch, and the ingest is idempotent by event id.

No single event can stop its partition: validation is total, and an event whose handling
raises anything but an outage (which is waited out) is dead-lettered as
``internal_error`` with the exception's type.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import faust

from agents.deps import WorkerDeps
from agents.event_batches import (
    BATCH_MAX,
    Rejected,
    count_dead_letters,
    keep_known,
    mark_stored,
    register_consumer,
    send_dead_letters,
    store_or_each,
    stored_events,
    validate_with,
)
from agents.impressions import attribute_ratings
from agents.outbox import flush_retrain_outbox
from infra.repositories import ratings as ratings_repo
from schemas.events import RatingEvent, RatingRemoved
from schemas.ratings import parse_rating
from schemas.wire import TimeWindow
from streams.batch_consumer import ratings_group
from streams.deadletter import RawMessage
from streams.retry import with_retry

Accepted = tuple[RawMessage, RatingEvent | RatingRemoved]


@dataclass(frozen=True)
class BatchOutcome:
    stored: int
    dead_lettered: Counter[str]
    retrain_requested: bool
    removed: int = 0


def validate(
    messages: Sequence[RawMessage], window: TimeWindow
) -> tuple[list[Accepted], list[Rejected]]:
    return validate_with(parse_rating, messages, window)


async def _ingest(deps: WorkerDeps, events: list[RatingEvent | RatingRemoved]) -> ratings_repo.IngestResult:
    pool = await deps.pool()

    async def once() -> ratings_repo.IngestResult:
        async with pool.acquire() as conn:
            return await ratings_repo.ingest(
                conn, events, retrain_every=deps.settings.retrain_every_n_ratings
            )

    return await with_retry("storing ratings", once)


async def handle_batch(deps: WorkerDeps, messages: Sequence[RawMessage]) -> BatchOutcome:
    accepted, rejected = validate(messages, deps.settings.rated_at_window)
    accepted = await keep_known(deps, accepted, rejected)
    results, refused = (await store_or_each(accepted, lambda events: _ingest(deps, events), "ratings")
                        if accepted else ([], []))
    stored = sum(result.stored for result in results)
    removed = sum(result.removed for result in results)
    crossed = any(result.retrain_request_id is not None for result in results)
    rejected += refused
    mark_stored(deps, accepted, refused)
    await attribute_ratings(deps, stored_events(accepted, refused))
    deps.dirty_users.ingest_behind = len(messages) >= BATCH_MAX
    await send_dead_letters(deps, rejected)
    if crossed:
        await flush_retrain_outbox(deps)
    deps.metrics.ratings_stored.inc(stored)
    deps.metrics.ratings_removed.inc(removed)
    reasons = count_dead_letters(deps, rejected, "event(s)")
    return BatchOutcome(stored=stored, dead_lettered=reasons, retrain_requested=crossed, removed=removed)


def register(app: faust.App, deps: WorkerDeps) -> None:
    """The ratings consumer (:func:`agents.event_batches.register_consumer`)."""
    register_consumer(app, deps, deps.settings.topic("ratings"), ratings_group(deps.settings),
                      lambda messages: handle_batch(deps, messages), "ratings")
