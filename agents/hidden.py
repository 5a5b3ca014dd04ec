"""The hidden-items agent: "not interested" events into ``hidden_items``, then a re-rank.

The ratings agent's rules, on the ``hidden-items`` topic: batches from
:class:`streams.batch_consumer.BatchConsumer` (its own group, :func:`hidden_group`),
offsets committed only after the batch is durable (rows committed, letters delivered),
total validation (:func:`schemas.hidden.parse_hidden`), an unknown movie or any event
whose handling raises anything but an outage dead-lettered with its reason to
``ratings-dlq`` (the letter names the source topic), so nothing stops a partition.

Storing is idempotent: the latest ``at`` per (user, movie) wins and a replay changes
nothing (:mod:`infra.repositories.hidden`). The users of a stored batch are marked for
the speed layer, which re-ranks them: a hidden movie leaves the written list, an
unhidden one may come back. Serving does not wait for that: a hide is excluded at serve
time from the moment it is stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
import faust

from agents.deps import WorkerDeps
from agents.ratings import (
    REFUSED_BY_DATABASE,
    internal_error,
    known_movies,
    send_dead_letters,
    validate_with,
)
from infra.repositories import hidden as hidden_repo
from schemas.events import HiddenEvent
from schemas.hidden import parse_hidden
from schemas.ratings import Invalid, Reason
from schemas.wire import TimeWindow
from streams.batch_consumer import BatchConsumer, hidden_group
from streams.deadletter import RawMessage
from streams.retry import with_retry

log = logging.getLogger(__name__)

BATCH_MAX = 2000
BATCH_WITHIN_S = 0.02

Accepted = tuple[RawMessage, HiddenEvent]
Rejected = tuple[RawMessage, Invalid]


@dataclass(frozen=True)
class HiddenOutcome:
    hides: int
    unhides: int
    dead_lettered: Counter[str]


def validate(messages: Sequence[RawMessage], window: TimeWindow) -> tuple[list[Accepted], list[Rejected]]:
    return validate_with(parse_hidden, messages, window)


async def _store_once(deps: WorkerDeps, events: list[HiddenEvent]) -> hidden_repo.HiddenStored:
    pool = await deps.pool()

    async def once() -> hidden_repo.HiddenStored:
        async with pool.acquire() as conn:
            return await hidden_repo.store(conn, events)

    return await with_retry("storing hidden items", once)


async def _store(deps: WorkerDeps, accepted: list[Accepted]) -> tuple[int, int, list[Rejected]]:
    """(hides, unhides, events the database refused); a batch that fails for anything but
    an outage is stored event by event, so one bad row is dead-lettered alone."""
    try:
        result = await _store_once(deps, [event for _, event in accepted])
        return result.hides, result.unhides, []
    except Exception as err:
        log.warning("storing a batch of %d hidden items failed (%s); storing them one by one",
                    len(accepted), type(err).__name__)
    hides = unhides = 0
    refused: list[Rejected] = []
    for message, event in accepted:
        try:
            result = await _store_once(deps, [event])
        except REFUSED_BY_DATABASE as err:
            reason = (Reason.UNKNOWN_MOVIE if isinstance(err, asyncpg.ForeignKeyViolationError)
                      else Reason.REJECTED_BY_DATABASE)
            refused.append((message, Invalid(reason, str(err)[:300])))
            continue
        except Exception as err:
            log.exception("storing the hidden item at %s failed", message.origin)
            refused.append((message, internal_error(err)))
            continue
        hides += result.hides
        unhides += result.unhides
    return hides, unhides, refused


async def handle_batch(deps: WorkerDeps, messages: Sequence[RawMessage]) -> HiddenOutcome:
    accepted, rejected = validate(messages, deps.settings.rated_at_window)
    if accepted:
        known = await known_movies(deps, accepted)
        rejected += [(message, Invalid(Reason.UNKNOWN_MOVIE, f"no movie with id {event.movie_id}"))
                     for message, event in accepted if event.movie_id not in known]
        accepted = [(message, event) for message, event in accepted if event.movie_id in known]
    hides, unhides, refused = await _store(deps, accepted) if accepted else (0, 0, [])
    rejected += refused
    if accepted and deps.settings.speed_layer:
        # Every stored user, changed or not: a redelivery after a crash re-ranks them too.
        refused_ids = {id(message) for message, _ in refused}
        deps.dirty_users.mark(event.user_id for message, event in accepted if id(message) not in refused_ids)
    await send_dead_letters(deps, rejected)
    deps.metrics.hidden_stored.labels("hide").inc(hides)
    deps.metrics.hidden_stored.labels("unhide").inc(unhides)
    reasons = Counter(str(invalid.reason) for _, invalid in rejected)
    for reason, count in reasons.items():
        deps.metrics.dead_lettered.labels(reason=reason).inc(count)
    if reasons:
        log.info("dead-lettered %d hidden-items event(s): %s", len(rejected), dict(reasons))
    return HiddenOutcome(hides, unhides, reasons)


def register(app: faust.App, deps: WorkerDeps) -> None:
    """The hidden-items consumer as a task of the worker's app; an unexpected error stops
    the worker (the uncommitted batch is read again after a restart)."""
    consumer = BatchConsumer(
        deps.settings, deps.settings.topic("hidden-items"), hidden_group(deps.settings),
        lambda messages: handle_batch(deps, messages),
        max_records=BATCH_MAX, max_wait_s=BATCH_WITHIN_S,
    )

    async def hidden_consumer() -> None:
        try:
            await consumer.run()
        except asyncio.CancelledError:
            raise
        except Exception as err:
            log.exception("the hidden-items consumer failed; stopping the worker")
            await app.crash(err)

    app.task(hidden_consumer)
