"""The speed layer: once a batch of ratings is durable, re-rank its users.

A user's list is a function of their ratings and the active version's fixed item side
(the ranking model scores a history row), so the worker recomputes the top K of the
users whose ratings were stored, many at once, vectorised, and writes their lists as
the predictor does, marked ``realtime``. A new user is personal after one stored rating.
The full fan-out after a retrain stays (its lists are ``batch``).

Ingest only marks the users (:class:`agents.deps.DirtyUsers`); a task of the worker
re-ranks them in rounds of at most ``STREAMREC_SPEED_LAYER_MAX_USERS``, so ingest never
waits for scoring, and a user who rated several times meanwhile is re-ranked once.
Exactness does not depend on this: a rating newer than a list is excluded when the
list is served (migration 0008). A
redelivered batch finds the same ratings and rewrites the same lists.
``STREAMREC_SPEED_LAYER=false`` turns it off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass

import faust

from agents.deps import WorkerDeps
from infra.repositories import models as models_repo
from infra.repositories import movies as movies_repo
from infra.repositories import ratings as ratings_repo
from infra.repositories import suggestions as suggestions_repo
from ml.serve import SuggestionRow, suggestion_rows
from ml.topk import RatedPairs
from streams.retry import with_retry

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Round:
    """One round's lists, scored and not yet written."""

    users: list[int]
    rows: list[SuggestionRow]
    version: str
    rated_from: int


async def score_round(deps: WorkerDeps, user_ids: Iterable[int]) -> Round | None:
    """Read these users' ratings and rank their lists from the active version; None
    when there is nothing to write (no users, no model yet)."""
    settings = deps.settings
    users = sorted(set(user_ids))
    if not users:
        return None
    pool = await deps.pool()

    async def read() -> tuple[models_repo.ModelVersion | None, list[int], ratings_repo.RatedPairsRead]:
        async with pool.acquire() as conn:
            active = await models_repo.active(conn)
            if active is None:
                return None, [], ratings_repo.RatedPairsRead([], [], 0)
            return active, await movies_repo.all_ids(conn), await ratings_repo.rated_pairs(conn, users)

    active, catalogue, rated = await with_retry("reading users to re-rank", read)
    if active is None:
        return None  # no model yet: the cold-start list serves
    bundle = await deps.bundle_of(active)
    if bundle is None:
        return None
    rows = await asyncio.to_thread(suggestion_rows, bundle, users, k=settings.top_k,
                                   rated=RatedPairs.of(rated.user_ids, rated.movie_ids), catalogue=catalogue,
                                   hidden=RatedPairs.of(rated.hidden_user_ids, rated.hidden_movie_ids))
    return Round(users, rows, active.version_name, rated.rated_from)


async def write_round(deps: WorkerDeps, scored: Round) -> int:
    """Replace the round's lists (marked realtime); returns the users written."""
    pool = await deps.pool()

    async def write() -> int:
        return await suggestions_repo.replace_in_parts(
            pool, scored.users, scored.rows, scored.version, rated_from=scored.rated_from,
            parts=deps.settings.prediction_write_parts, made_by="realtime")

    await with_retry("writing realtime suggestions", write)
    deps.metrics.realtime_users.inc(len(scored.users))
    return len(scored.users)


async def rerank(deps: WorkerDeps, user_ids: Iterable[int]) -> int:
    """Rewrite these users' lists from the active version; returns the users written."""
    scored = await score_round(deps, user_ids)
    return 0 if scored is None else await write_round(deps, scored)


async def _written(writing: asyncio.Task[int] | None) -> None:
    """Wait for a round's write; a failure costs freshness, never ingest."""
    if writing is None:
        return
    try:
        await writing
    except Exception:
        log.exception("the speed layer could not write a round; its users keep their lists")


def register(app: faust.App, deps: WorkerDeps) -> None:
    """The speed layer's task: re-rank the marked users, round after round. A round is
    read and scored while the one before it is written (Postgres renders and stores
    lists while the worker scores), and rounds are written in order, so a user in two
    rounds keeps the later one's list (read later, from at least the same ratings)."""
    if not deps.settings.speed_layer:
        return

    async def speed_layer() -> None:
        writing: asyncio.Task[int] | None = None
        try:
            while True:
                users = await deps.dirty_users.take(deps.settings.speed_layer_max_users)
                try:
                    scored = await score_round(deps, users)
                except Exception:  # a bug here costs freshness, never ingest
                    log.exception("the speed layer failed for %d user(s); they keep their lists", len(users))
                    scored = None
                await _written(writing)
                writing = None if scored is None else asyncio.create_task(write_round(deps, scored))
        finally:
            if writing is not None:
                writing.cancel()
                with contextlib.suppress(BaseException):
                    await writing

    app.task(speed_layer)
