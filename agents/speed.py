"""The speed layer: once a batch of ratings is durable, re-rank its users.

A user's list is a function of their ratings and the active version's fixed item side
(the ranking model scores a history row), so the worker recomputes the top K of the
users whose ratings were stored, many at once, vectorised, and writes their lists as
the predictor does, marked ``realtime``. A new user is personal after one stored rating.
The full fan-out after a retrain stays (its lists are ``batch``).

Ingest only marks the users (:class:`agents.deps.DirtyUsers`); a task of the worker
re-ranks them in rounds of at most ``STREAMREC_SPEED_LAYER_MAX_USERS``, so ingest never
waits for a round (at most for one slice of its scoring, which runs on the event loop),
and a user who rated several times meanwhile is re-ranked once. A round is scored while
the previous round's lists are being written.
Exactness does not depend on this: a rating newer than a list is excluded when the
list is served (migration 0008). A
redelivered batch finds the same ratings and rewrites the same lists.
``STREAMREC_SPEED_LAYER=false`` turns it off.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

import faust

from agents.deps import WorkerDeps
from agents.scoring import rows_in_slices
from infra.repositories import rerank as rerank_repo
from infra.repositories import suggestions as suggestions_repo
from ml.serve import SuggestionRow
from streams.retry import with_retry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScoredRound:
    """A round's new lists, scored from one read of its users' ratings, not yet written."""

    users: list[int]
    rows: list[SuggestionRow]
    model_version: str
    rated_from: int


async def score_round(deps: WorkerDeps, user_ids: Iterable[int]) -> ScoredRound | None:
    """Read these users' ratings and score their lists from the active version (None
    when there is nothing to write: no users, no model yet, or its artifact refused)."""
    settings = deps.settings
    users = sorted(set(user_ids))
    if not users:
        return None
    pool = await deps.pool()

    async def read() -> rerank_repo.RerankRead:
        async with pool.acquire() as conn:  # one statement: one round trip per round
            return await rerank_repo.rerank_inputs(conn, users)

    inputs = await with_retry("reading users to re-rank", read)
    active, catalogue, rated = inputs.active, inputs.catalogue, inputs.rated
    if active is None:
        return None  # no model yet: the cold-start list serves
    bundle = await deps.bundle_of(active)
    if bundle is None:
        return None
    rows = await rows_in_slices(bundle, users, k=settings.top_k, catalogue=catalogue, rated=rated,
                                kept=deps.kept_products(bundle))
    return ScoredRound(users, rows, active.version_name, rated.rated_from)


async def write_round(deps: WorkerDeps, scored: ScoredRound) -> int:
    """Write a scored round's lists (marked ``realtime``); returns the users written."""
    pool = await deps.pool()

    async def write() -> list[int]:
        async with pool.acquire() as conn:
            return await suggestions_repo.replace_lists(
                conn, scored.users, scored.rows, scored.model_version, rated_from=scored.rated_from,
                made_by="realtime")

    kept = await with_retry("writing realtime suggestions", write)
    if kept:
        # Scored from a version that is no longer the active one (the round read before
        # an activation): the lists it would replace stay, and these users go again, so
        # their newest ratings reach a list of the active version.
        deps.dirty_users.mark(kept)
    deps.metrics.realtime_users.inc(len(scored.users) - len(kept))
    return len(scored.users) - len(kept)


def register(app: faust.App, deps: WorkerDeps) -> None:
    """The speed layer's task: re-rank the marked users, round after round."""
    if not deps.settings.speed_layer:
        return

    share = deps.settings.speed_layer_backlog_share

    async def written(scored: ScoredRound) -> None:
        try:
            await write_round(deps, scored)
        except Exception:  # a bug here costs freshness, never ingest
            log.exception("the speed layer failed to write %d user(s)' lists", len(scored.users))

    async def speed_layer() -> None:
        # A round is scored while the previous one's lists are written: the write waits
        # mostly on Postgres, the scoring on this process's CPU. Writes stay in round
        # order, so where two rounds hold a user, the list from the later read lands last.
        writing: asyncio.Task[None] | None = None
        try:
            while True:
                users = await deps.dirty_users.take(deps.settings.speed_layer_max_users)
                started = time.perf_counter()
                try:
                    scored = await score_round(deps, users)
                except Exception:  # a bug here costs freshness, never ingest
                    log.exception("the speed layer failed for %d user(s); they keep their lists", len(users))
                    scored = None
                deps.dirty_users.round_scored()
                if writing is not None:
                    await writing
                    writing = None
                if scored is not None:
                    writing = asyncio.create_task(written(scored))
                if deps.dirty_users.ingest_behind and share < 1:
                    # A backlog: ingest first. Users marked meanwhile wait (and are re-ranked
                    # once however often they rate); once ingest catches up, rounds go on at once.
                    await asyncio.sleep((time.perf_counter() - started) * (1 - share) / share)
        finally:
            if writing is not None:
                writing.cancel()  # the lists stay exact: the next rating or retrain rewrites them

    app.task(speed_layer)
