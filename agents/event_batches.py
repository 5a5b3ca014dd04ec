"""What the agents that read a topic in batches share (ratings, hidden items): total
validation, the known-movie check, storing a batch or else event by event, dead letters
delivered before the offsets are committed, the users handed to the speed layer, and
the consumer's task. Each agent brings its parser and its store."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import asyncpg
import faust

from agents.deps import WorkerDeps
from infra.repositories import movies as movies_repo
from schemas.events import HiddenEvent, ImpressionEvent, RatingEvent, RatingRemoved
from schemas.ratings import Invalid, Origin, Reason
from schemas.wire import TimeWindow
from streams.batch_consumer import BatchConsumer
from streams.deadletter import RawMessage, dead_letter, letter_key
from streams.retry import with_retry

log = logging.getLogger(__name__)

BATCH_MAX = 2000
BATCH_WITHIN_S = 0.02  # how long a fetch may wait for more events once it has some

# The ratings topic carries ratings and removals.
Event = TypeVar("Event", RatingEvent | RatingRemoved, HiddenEvent, ImpressionEvent)
Stored = TypeVar("Stored")
Rejected = tuple[RawMessage, Invalid]
# Errors by which Postgres refuses data: retrying cannot help, dead-lettering does.
REFUSED_BY_DATABASE = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError)


def internal_error(err: BaseException) -> Invalid:
    return Invalid(Reason.INTERNAL_ERROR, f"{type(err).__name__}: {err}"[:300])


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


async def known_movies(deps: WorkerDeps, accepted: Sequence[tuple[RawMessage, Event]]) -> set[int]:
    """Which of the events' movies exist (one query, retried through outages)."""
    pool = await deps.pool()

    async def query() -> set[int]:
        async with pool.acquire() as conn:
            return await movies_repo.existing_ids(conn, [event.movie_id for _, event in accepted])

    return await with_retry("checking movies", query)


async def keep_known(deps: WorkerDeps, accepted: list[tuple[RawMessage, Event]],
                     rejected: list[Rejected]) -> list[tuple[RawMessage, Event]]:
    """The events whose movie exists; the others join ``rejected`` as ``unknown_movie``."""
    if not accepted:
        return accepted
    known = await known_movies(deps, accepted)
    rejected += [(message, Invalid(Reason.UNKNOWN_MOVIE, f"no movie with id {event.movie_id}"))
                 for message, event in accepted if event.movie_id not in known]
    return [(message, event) for message, event in accepted if event.movie_id in known]


async def store_or_each(
    accepted: list[tuple[RawMessage, Event]],
    store: Callable[[list[Event]], Awaitable[Stored]],
    what: str,
) -> tuple[list[Stored], list[Rejected]]:
    """``store`` the batch in one go; if it fails for anything but an outage (``store``
    retries those until they pass), store it event by event, so one bad row is
    dead-lettered alone instead of blocking its partition. Returns each store's result
    and the events the database refused."""
    try:
        return [await store([event for _, event in accepted])], []
    except Exception as err:
        log.warning("storing a batch of %d %s failed (%s); storing them one by one",
                    len(accepted), what, type(err).__name__)
    results: list[Stored] = []
    refused: list[Rejected] = []
    for message, event in accepted:
        try:
            results.append(await store([event]))
        except REFUSED_BY_DATABASE as err:
            reason = (Reason.UNKNOWN_MOVIE if isinstance(err, asyncpg.ForeignKeyViolationError)
                      else Reason.REJECTED_BY_DATABASE)
            refused.append((message, Invalid(reason, str(err)[:300])))
        except Exception as err:
            log.exception("storing the event at %s failed", message.origin)
            refused.append((message, internal_error(err)))
    return results, refused


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


def mark_stored(deps: WorkerDeps, accepted: list[tuple[RawMessage, Event]],
                refused: list[Rejected]) -> None:
    """Hand the users of the stored events to the speed layer (:mod:`agents.speed`):
    every one, changed or not, so a redelivery after a crash re-ranks them too."""
    if deps.settings.speed_layer and accepted:
        deps.dirty_users.mark(event.user_id for event in stored_events(accepted, refused))


def stored_events(accepted: list[tuple[RawMessage, Event]], refused: list[Rejected]) -> list[Event]:
    """The accepted events the database did not refuse."""
    refused_ids = {id(message) for message, _ in refused}
    return [event for message, event in accepted if id(message) not in refused_ids]


def count_dead_letters(deps: WorkerDeps, rejected: list[Rejected], what: str) -> Counter[str]:
    reasons = Counter(str(invalid.reason) for _, invalid in rejected)
    for reason, count in reasons.items():
        deps.metrics.dead_lettered.labels(reason=reason).inc(count)
    if reasons:
        log.info("dead-lettered %d %s: %s", len(rejected), what, dict(reasons))
    return reasons


def register_consumer(app: faust.App, deps: WorkerDeps, topic: str, group: str,
                      handle: Callable[[Sequence[RawMessage]], Awaitable[object]], name: str) -> None:
    """The topic's batch consumer as a task of the worker's app (started once the worker
    is up, cancelled when it stops); an unexpected error stops the worker rather than
    leaving it up without the consumer, and the uncommitted batch is read again after a
    restart."""
    def count_expired(topic: str, count: int) -> None:
        deps.metrics.events_expired.labels(topic=topic).inc(count)

    consumer = BatchConsumer(deps.settings, topic, group, handle, max_records=BATCH_MAX,
                             max_wait_s=BATCH_WITHIN_S, on_expired=count_expired)

    async def run() -> None:
        try:
            await consumer.run()
        except asyncio.CancelledError:
            raise
        except Exception as err:
            log.exception("the %s consumer failed; stopping the worker", name)
            await app.crash(err)

    run.__name__ = run.__qualname__ = f"{name.replace('-', '_')}_consumer"  # the task's name in logs
    app.task(run)
