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

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import faust

from agents.deps import WorkerDeps
from agents.event_batches import (
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
from agents.impressions import attribute_hides
from infra.repositories import hidden as hidden_repo
from schemas.events import HiddenEvent
from schemas.hidden import parse_hidden
from schemas.wire import TimeWindow
from streams.batch_consumer import hidden_group
from streams.deadletter import RawMessage
from streams.retry import with_retry

Accepted = tuple[RawMessage, HiddenEvent]


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


async def handle_batch(deps: WorkerDeps, messages: Sequence[RawMessage]) -> HiddenOutcome:
    accepted, rejected = validate(messages, deps.settings.rated_at_window)
    accepted = await keep_known(deps, accepted, rejected)
    results, refused = (await store_or_each(accepted, lambda events: _store_once(deps, events),
                                            "hidden items") if accepted else ([], []))
    hides = sum(result.hides for result in results)
    unhides = sum(result.unhides for result in results)
    rejected += refused
    mark_stored(deps, accepted, refused)
    await attribute_hides(deps, stored_events(accepted, refused))
    await send_dead_letters(deps, rejected)
    deps.metrics.hidden_stored.labels("hide").inc(hides)
    deps.metrics.hidden_stored.labels("unhide").inc(unhides)
    reasons = count_dead_letters(deps, rejected, "hidden-items event(s)")
    return HiddenOutcome(hides, unhides, reasons)


def register(app: faust.App, deps: WorkerDeps) -> None:
    """The hidden-items consumer (:func:`agents.event_batches.register_consumer`)."""
    register_consumer(app, deps, deps.settings.topic("hidden-items"), hidden_group(deps.settings),
                      lambda messages: handle_batch(deps, messages), "hidden-items")
