"""The ratings agent: validate, persist in bulk, count towards a retrain, mark the users to re-rank.

Events arrive in batches (:class:`streams.batch_consumer.BatchConsumer`, everything
fetched so far, up to ``BATCH_MAX``) and their offsets are committed only after their
effect is durable: rows committed in Postgres, bad events delivered to the dead-letter
topic. A crash before that redelivers the batch, and the ingest is idempotent by event id.

No single event can stop its partition: validation is total, and an event whose handling
raises anything but an outage (which is waited out) is dead-lettered as
``internal_error`` with the exception's type.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import asyncpg
import faust

from agents.deps import WorkerDeps
from agents.outbox import flush_retrain_outbox
from infra.repositories import movies as movies_repo
from infra.repositories import ratings as ratings_repo
from schemas.events import HiddenEvent, RatingEvent
from schemas.ratings import Invalid, Origin, Reason, parse_rating
from schemas.wire import TimeWindow
from streams.batch_consumer import BatchConsumer, ratings_group
from streams.deadletter import RawMessage, dead_letter, letter_key
from streams.retry import with_retry

log = logging.getLogger(__name__)

BATCH_MAX = 2000
BATCH_WITHIN_S = 0.02  # how long a fetch may wait for more events once it has some

Accepted = tuple[RawMessage, RatingEvent]
Rejected = tuple[RawMessage, Invalid]
# Errors by which Postgres refuses data: retrying cannot help, dead-lettering does.
REFUSED_BY_DATABASE = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError)


@dataclass(frozen=True)
class BatchOutcome:
    stored: int
    dead_lettered: Counter[str]
    retrain_requested: bool


def internal_error(err: BaseException) -> Invalid:
    return Invalid(Reason.INTERNAL_ERROR, f"{type(err).__name__}: {err}"[:300])


Event = TypeVar("Event", RatingEvent, HiddenEvent)


def validate_with(
    parse: Callable[[bytes | None, bytes | None, Origin, TimeWindow], Event | Invalid],
    messages: Sequence[RawMessage], window: TimeWindow,
) -> tuple[list[tuple[RawMessage, Event]], list[Rejected]]:
    """Each message parsed (``parse_rating``, ``parse_hidden``): accepted or rejected
    with its reason, never raising."""
    accepted: list[tuple[RawMessage, Event]] = []
    rejected: list[Rejected] = []
    for message in messages:
        parsed: Event | Invalid
        try:
            parsed = parse(message.key, message.value, message.origin, window)
        except Exception as err:  # validation is total; this is the last guard
            log.exception("validating %s failed", message.origin)
            parsed = internal_error(err)
        if isinstance(parsed, Invalid):
            rejected.append((message, parsed))
        else:
            accepted.append((message, parsed))
    return accepted, rejected


def validate(
    messages: Sequence[RawMessage], window: TimeWindow
) -> tuple[list[Accepted], list[Rejected]]:
    return validate_with(parse_rating, messages, window)


async def known_movies(deps: WorkerDeps, accepted: Sequence[tuple[RawMessage, Event]]) -> set[int]:
    """Which of the events' movies exist (one query, retried through outages)."""
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

    A batch that fails for any reason but an outage (outages are retried inside
    :func:`_ingest` until they pass) is retried event by event, so one bad row is
    dead-lettered instead of blocking its partition.
    """
    try:
        result = await _ingest(deps, [event for _, event in accepted])
        return result.stored, result.retrain_request_id is not None, []
    except Exception as err:
        log.warning("storing a batch of %d ratings failed (%s); storing them one by one",
                    len(accepted), type(err).__name__)
    stored, crossed, refused = 0, False, []
    for message, event in accepted:
        try:
            result = await _ingest(deps, [event])
        except REFUSED_BY_DATABASE as err:
            reason = (Reason.UNKNOWN_MOVIE if isinstance(err, asyncpg.ForeignKeyViolationError)
                      else Reason.REJECTED_BY_DATABASE)
            refused.append((message, Invalid(reason, str(err)[:300])))
            continue
        except Exception as err:
            log.exception("storing the rating at %s failed", message.origin)
            refused.append((message, internal_error(err)))
            continue
        stored += result.stored
        crossed = crossed or result.retrain_request_id is not None
    return stored, crossed, refused


async def send_dead_letters(deps: WorkerDeps, rejected: list[Rejected]) -> None:
    async def send_all() -> None:
        pending = [
            await deps.topics.dead_letters.send(key=letter_key(message.key),
                                                value=dead_letter(message, invalid))
            for message, invalid in rejected
        ]
        await asyncio.gather(*pending)  # delivered, not just buffered, before the ack

    if rejected:
        await with_retry("dead-lettering events", send_all)


def _mark_stored(deps: WorkerDeps, accepted: list[Accepted], refused: list[Rejected]) -> None:
    """Hand the users whose ratings were stored to the speed layer (:mod:`agents.speed`)."""
    if deps.settings.speed_layer:
        refused_ids = {id(message) for message, _ in refused}
        deps.dirty_users.mark(event.user_id for message, event in accepted if id(message) not in refused_ids)


async def handle_batch(deps: WorkerDeps, messages: Sequence[RawMessage]) -> BatchOutcome:
    accepted, rejected = validate(messages, deps.settings.rated_at_window)
    if accepted:
        known = await known_movies(deps, accepted)
        rejected += [(message, Invalid(Reason.UNKNOWN_MOVIE, f"no movie with id {event.movie_id}"))
                     for message, event in accepted if event.movie_id not in known]
        accepted = [(message, event) for message, event in accepted if event.movie_id in known]
    stored, crossed, refused = await _store(deps, accepted) if accepted else (0, False, [])
    rejected += refused
    if accepted:
        _mark_stored(deps, accepted, refused)
    await send_dead_letters(deps, rejected)
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
    """The ratings consumer as a task of the worker's app (started once the worker is up,
    cancelled when it stops); an unexpected error stops the worker rather than leaving
    it up without ingest, and the uncommitted batch is read again after a restart."""
    consumer = BatchConsumer(
        deps.settings, deps.settings.topic("ratings"), ratings_group(deps.settings),
        lambda messages: handle_batch(deps, messages),
        max_records=BATCH_MAX, max_wait_s=BATCH_WITHIN_S,
    )

    async def ratings_consumer() -> None:
        try:
            await consumer.run()
        except asyncio.CancelledError:
            raise
        except Exception as err:
            log.exception("the ratings consumer failed; stopping the worker")
            await app.crash(err)

    app.task(ratings_consumer)
