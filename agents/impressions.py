"""The impressions agent: the lists the API served, stored for online evaluation.

The ratings agent's rules, on the ``impressions`` topic: batches from
:class:`streams.batch_consumer.BatchConsumer` (its own group, :func:`impressions_group`),
offsets committed only after the batch is durable, total validation
(:func:`schemas.impressions.parse_impression`), bad events dead-lettered to
``ratings-dlq`` with their reason. Storing is idempotent by event id.

What users do next is credited to these rows by the ratings and hidden-items agents
(:func:`attribute_ratings`, :func:`attribute_hides`): after their batch is stored, one
statement credits each rating or hide of a movie an impression showed the same user
within ``attribution_window`` before it. Keyed by the action's event id, so a
redelivered batch credits nothing twice; an impression stored after the action it
preceded (they travel on different topics) is not credited.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import faust

from agents.deps import WorkerDeps
from agents.event_batches import (
    Rejected,
    count_dead_letters,
    register_consumer,
    send_dead_letters,
    store_or_each,
    validate_with,
)
from infra.repositories import impressions as impressions_repo
from infra.repositories.impressions import Attributable
from schemas.events import HiddenEvent, ImpressionEvent, RatingEvent, RatingRemoved
from schemas.impressions import parse_impression
from schemas.wire import TimeWindow
from streams.batch_consumer import impressions_group
from streams.deadletter import RawMessage
from streams.retry import with_retry

Accepted = tuple[RawMessage, ImpressionEvent]


@dataclass(frozen=True)
class ImpressionsOutcome:
    stored: int
    dead_lettered: Counter[str]


def validate(messages: Sequence[RawMessage], window: TimeWindow) -> tuple[list[Accepted], list[Rejected]]:
    return validate_with(parse_impression, messages, window)


async def _store_once(deps: WorkerDeps, events: list[ImpressionEvent]) -> int:
    pool = await deps.pool()

    async def once() -> int:
        async with pool.acquire() as conn:
            return await impressions_repo.store(conn, events)

    return await with_retry("storing impressions", once)


async def handle_batch(deps: WorkerDeps, messages: Sequence[RawMessage]) -> ImpressionsOutcome:
    accepted, rejected = validate(messages, deps.settings.rated_at_window)
    results, refused = (await store_or_each(accepted, lambda events: _store_once(deps, events),
                                            "impressions") if accepted else ([], []))
    rejected += refused
    await send_dead_letters(deps, rejected)
    stored = sum(results)
    deps.metrics.impressions_stored.inc(stored)
    return ImpressionsOutcome(stored, count_dead_letters(deps, rejected, "impression(s)"))


async def _attribute(deps: WorkerDeps, actions: list[Attributable], kind: str) -> int:
    if not actions:
        return 0
    pool = await deps.pool()

    async def once() -> int:
        async with pool.acquire() as conn:
            return await impressions_repo.attribute(conn, actions, deps.settings.attribution_window)

    credited = await with_retry("attributing " + kind, once)
    deps.metrics.attributed.labels(kind).inc(credited)
    return credited


async def attribute_ratings(deps: WorkerDeps, events: Sequence[RatingEvent | RatingRemoved]) -> int:
    """Credit the stored ratings (not removals) to the impressions that showed them."""
    return await _attribute(deps, [
        Attributable(e.event_id, "rating", e.user_id, e.movie_id, e.rated_at, e.rating)
        for e in events if isinstance(e, RatingEvent)], "rating")


async def attribute_hides(deps: WorkerDeps, events: Sequence[HiddenEvent]) -> int:
    """Credit the stored hides (not unhides) to the impressions that showed them."""
    return await _attribute(deps, [
        Attributable(e.event_id, "hide", e.user_id, e.movie_id, e.at) for e in events if e.hidden], "hide")


def register(app: faust.App, deps: WorkerDeps) -> None:
    """The impressions consumer (:func:`agents.event_batches.register_consumer`)."""
    register_consumer(app, deps, deps.settings.topic("impressions"), impressions_group(deps.settings),
                      lambda messages: handle_batch(deps, messages), "impressions")
