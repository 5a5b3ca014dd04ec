"""The ratings agent: validate, persist in bulk, mark did_rate, count towards a retrain.

Events arrive in batches (``noack_take``) and are acknowledged only after their effect
is durable: rows committed in Postgres, bad events delivered to the dead-letter topic.
A crash before that redelivers the batch, and the ingest is idempotent by event id.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import faust

from agents.deps import WorkerDeps
from agents.outbox import flush_retrain_outbox
from infra.repositories import movies as movies_repo
from infra.repositories import ratings as ratings_repo
from schemas.events import RatingEvent
from schemas.ratings import Invalid, Origin, Reason, parse_rating
from streams.deadletter import RawMessage, dead_letter
from streams.retry import with_retry

log = logging.getLogger(__name__)

BATCH_MAX = 2000
BATCH_WITHIN_S = 0.05  # the freshness budget spent waiting for a batch to fill

Accepted = tuple[RawMessage, RatingEvent]
Rejected = tuple[RawMessage, Invalid]
# Errors by which Postgres refuses data: retrying cannot help, dead-lettering does.
REFUSED_BY_DATABASE = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError)


@dataclass(frozen=True)
class BatchOutcome:
    stored: int
    dead_lettered: Counter[str]
    retrain_requested: bool


def raw_message(event: faust.EventT[Any]) -> RawMessage:
    message = event.message
    return RawMessage(
        key=event.key,
        value=event.value,
        origin=Origin(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            timestamp_ms=int(message.timestamp * 1000) if message.timestamp else None,
        ),
    )


def validate(messages: Sequence[RawMessage]) -> tuple[list[Accepted], list[Rejected]]:
    accepted: list[Accepted] = []
    rejected: list[Rejected] = []
    for message in messages:
        parsed = parse_rating(message.key, message.value, message.origin)
        if isinstance(parsed, Invalid):
            rejected.append((message, parsed))
        else:
            accepted.append((message, parsed))
    return accepted, rejected


async def _known_movies(deps: WorkerDeps, accepted: list[Accepted]) -> set[int]:
    pool = await deps.pool()

    async def query() -> set[int]:
        async with pool.acquire() as conn:
            return await movies_repo.existing_ids(conn, [event.movie_id for _, event in accepted])

    return await with_retry("checking movies", query)


async def _ingest(deps: WorkerDeps, events: list[RatingEvent]) -> ratings_repo.IngestResult:
    pool = await deps.pool()

    async def once() -> ratings_repo.IngestResult:
        async with pool.acquire() as conn:
            return await ratings_repo.ingest(
                conn, events, retrain_every=deps.settings.retrain_every_n_ratings
            )

    return await with_retry("storing ratings", once)


async def _store(deps: WorkerDeps, accepted: list[Accepted]) -> tuple[int, bool, list[Rejected]]:
    """Ingest the batch: (ratings stored, threshold crossed, rows the database refused).

    A batch Postgres refuses is retried event by event, so one bad row is dead-lettered
    instead of blocking its partition.
    """
    try:
        result = await _ingest(deps, [event for _, event in accepted])
        return result.stored, result.retrain_request_id is not None, []
    except REFUSED_BY_DATABASE:
        log.warning("Postgres refused a batch of %d ratings; storing them one by one", len(accepted))
    stored, crossed, refused = 0, False, []
    for message, event in accepted:
        try:
            result = await _ingest(deps, [event])
        except REFUSED_BY_DATABASE as err:
            reason = (Reason.UNKNOWN_MOVIE if isinstance(err, asyncpg.ForeignKeyViolationError)
                      else Reason.REJECTED_BY_DATABASE)
            refused.append((message, Invalid(reason, str(err)[:300])))
            continue
        stored += result.stored
        crossed = crossed or result.retrain_request_id is not None
    return stored, crossed, refused


async def _send_dead_letters(deps: WorkerDeps, rejected: list[Rejected]) -> None:
    async def send_all() -> None:
        pending = [
            await deps.topics.dead_letters.send(key=message.key, value=dead_letter(message, invalid))
            for message, invalid in rejected
        ]
        await asyncio.gather(*pending)  # delivered, not just buffered, before the ack

    if rejected:
        await with_retry("dead-lettering events", send_all)


async def handle_batch(deps: WorkerDeps, messages: Sequence[RawMessage]) -> BatchOutcome:
    accepted, rejected = validate(messages)
    if accepted:
        known = await _known_movies(deps, accepted)
        rejected += [(message, Invalid(Reason.UNKNOWN_MOVIE, f"no movie with id {event.movie_id}"))
                     for message, event in accepted if event.movie_id not in known]
        accepted = [(message, event) for message, event in accepted if event.movie_id in known]
    stored, crossed, refused = await _store(deps, accepted) if accepted else (0, False, [])
    rejected += refused
    await _send_dead_letters(deps, rejected)
    if crossed:
        await flush_retrain_outbox(deps)
    reasons = Counter(str(invalid.reason) for _, invalid in rejected)
    deps.metrics.ratings_stored.inc(stored)
    for reason, count in reasons.items():
        deps.metrics.dead_lettered.labels(reason=reason).inc(count)
    if reasons:
        log.info("dead-lettered %d event(s): %s", len(rejected), dict(reasons))
    return BatchOutcome(stored=stored, dead_lettered=reasons, retrain_requested=crossed)


def register(app: faust.App, deps: WorkerDeps) -> None:
    @app.agent(deps.topics.ratings, name="streamrec.ratings")
    async def ratings_agent(stream: faust.StreamT[Any]) -> None:
        # noack_take: the events are acked below, after their effect is durable.
        batches = stream.noack_take(BATCH_MAX, within=BATCH_WITHIN_S)  # type: ignore[attr-defined]
        async for events in batches:
            await handle_batch(deps, [raw_message(event) for event in events])
            for event in events:
                await stream.ack(event)
