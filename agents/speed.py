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
from infra.repositories import Ids, no_ids
from infra.repositories import models as models_repo
from infra.repositories import movies as movies_repo
from infra.repositories import ratings as ratings_repo
from infra.repositories import suggestions as suggestions_repo
from ml.serve import SuggestionRow, suggestion_rows
from ml.topk import RatedPairs
from streams.retry import with_retry

log = logging.getLogger(__name__)

LOOP_SLICE_USERS = 100  # users scored between two turns of the event loop


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

    async def read() -> tuple[models_repo.ModelVersion | None, Ids, ratings_repo.RatedPairsRead]:
        async with pool.acquire() as conn:
            active = await models_repo.active(conn)
            if active is None:
                return None, no_ids(), ratings_repo.RatedPairsRead(no_ids(), no_ids(), 0)
            return active, await movies_repo.all_ids(conn), await ratings_repo.rated_pairs(conn, users)

    active, catalogue, rated = await with_retry("reading users to re-rank", read)
    if active is None:
        return None  # no model yet: the cold-start list serves
    bundle = await deps.bundle_of(active)
    if bundle is None:
        return None
    # Sorted by user once, so that each slice takes its users' pairs by two binary searches.
    rated_pairs = RatedPairs.of(rated.user_ids, rated.movie_ids).sorted_by_user()
    hidden = RatedPairs.of(rated.hidden_user_ids, rated.hidden_movie_ids).sorted_by_user()
    kept = deps.kept_products(bundle)
    rows: list[SuggestionRow] = []
    # Scored on the event loop, a slice at a time, not in a thread: a slice is a few
    # array operations (milliseconds), and in a thread each one that gives up the GIL
    # has to win it back from the loop's ingest, Kafka and Postgres work, which made a
    # traced worker's rounds several times slower. Between slices, ingest and the
    # consumers run.
    for start in range(0, len(users), LOOP_SLICE_USERS):
        part = users[start:start + LOOP_SLICE_USERS]
        rows += suggestion_rows(bundle, part, k=settings.top_k, catalogue=catalogue, kept=kept,
                                rated=rated_pairs.of_users_between(part[0], part[-1]),
                                hidden=hidden.of_users_between(part[0], part[-1]))
        await asyncio.sleep(0)
    return ScoredRound(users, rows, active.version_name, rated.rated_from)


async def write_round(deps: WorkerDeps, scored: ScoredRound) -> int:
    """Write a scored round's lists (marked ``realtime``); returns the users written."""
    pool = await deps.pool()

    async def write() -> int:
        async with pool.acquire() as conn:
            return await suggestions_repo.replace_for_users(
                conn, scored.users, scored.rows, scored.model_version, rated_from=scored.rated_from,
                made_by="realtime")

    await with_retry("writing realtime suggestions", write)
    deps.metrics.realtime_users.inc(len(scored.users))
    return len(scored.users)


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
