"""The predictor agent: rank every movie for a job's users in one vectorised step (the
version's ranking model orders the list; SVD gives each suggestion its predicted rating)
and replace their top-K suggestions in one transaction. Replaying a job gives the same
table; a job for a model that is no longer active is dropped.

A job is scored while the previous job's lists are written (a write waits mostly on
Postgres, scoring on this process): writes keep the jobs' order, and a job is acked once
its lists are written, so a crash redelivers it. Realtime work goes first: a job starts,
and goes on after each slice of its users, once ingest keeps up and the users waiting
for the speed layer have had a round.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import faust

from agents.decoding import decode
from agents.deps import WorkerDeps
from agents.scoring import rows_in_slices
from infra.repositories import rerank as rerank_repo
from infra.repositories import suggestions as suggestions_repo
from ml.serve import SuggestionRow
from schemas.events import PredictionJob
from streams.retry import with_retry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScoredJob:
    """A job's lists, scored from one read of its users' ratings, not yet written."""

    job: PredictionJob
    rows: list[SuggestionRow]
    rated_from: int


async def score_job(deps: WorkerDeps, job: PredictionJob) -> ScoredJob | None:
    """Read the job's users and score their lists (None: dropped, its model is no longer
    the active one or its artifact is refused)."""
    realtime_first = _realtime_first(deps)
    await realtime_first()
    pool = await deps.pool()

    async def read() -> rerank_repo.RerankRead:
        async with pool.acquire() as conn:
            return await rerank_repo.rerank_inputs(conn, job.user_ids)

    inputs = await with_retry("reading a job's data", read)
    active = inputs.active
    if active is None or active.version_name != job.model_version:
        log.info("dropped a job for model %s: the active one is %s", job.model_version,
                 active.version_name if active else None)
        deps.metrics.jobs_dropped.inc()
        return None
    bundle = await deps.bundle_of(active)
    if bundle is None:
        return None
    rows = await rows_in_slices(bundle, sorted(set(job.user_ids)), k=deps.settings.top_k,
                                catalogue=inputs.catalogue, rated=inputs.rated, between=realtime_first)
    return ScoredJob(job, rows, inputs.rated.rated_from)


def _realtime_first(deps: WorkerDeps) -> Callable[[], Awaitable[None]]:
    """What a job awaits before it starts and between its slices: ingest catching up and
    a round of the speed layer for the users waiting (bounded). A user who just rated is
    re-ranked before a job reaches them, and a job never writes over that newer list
    (suggestions._UPSERT)."""

    async def wait() -> None:
        if deps.settings.speed_layer:
            deps.metrics.prediction_yield_seconds.inc(
                await deps.dirty_users.serving_first(deps.settings.prediction_max_yield_s))
        else:
            await asyncio.sleep(0)

    return wait


async def write_job(deps: WorkerDeps, scored: ScoredJob) -> int:
    """Write a scored job's lists; returns the rows written."""
    pool = await deps.pool()
    job = scored.job

    async def write() -> int:
        return await suggestions_repo.replace_in_parts(
            pool, job.user_ids, scored.rows, job.model_version, rated_from=scored.rated_from,
            parts=deps.settings.prediction_write_parts)

    written = await with_retry("writing suggestions", write)
    deps.metrics.suggestions_written.inc(written)
    return written


async def predict_job(deps: WorkerDeps, job: PredictionJob) -> int:
    """Score and write the job's suggestions; returns the rows written (0 when dropped)."""
    scored = await score_job(deps, job)
    return 0 if scored is None else await write_job(deps, scored)


def register(app: faust.App, deps: WorkerDeps) -> None:
    @app.agent(deps.topics.prediction_jobs, name="streamrec.predictor")
    async def predictor_agent(stream: faust.StreamT[Any]) -> None:
        manual = stream.noack()  # type: ignore[attr-defined]
        writing: asyncio.Task[None] | None = None

        async def written(scored: ScoredJob, events: list[Any]) -> None:
            try:
                await write_job(deps, scored)
            except Exception:  # one bad job must not stop the others
                log.exception("prediction job %s failed", scored.job.job_id)
            for event in events:
                await manual.ack(event)

        try:
            async for event in manual.events():
                job = decode(event, PredictionJob, deps.metrics)
                scored = None
                if job is not None:
                    try:
                        scored = await score_job(deps, job)
                    except Exception:  # one bad job must not stop the others
                        log.exception("prediction job %s failed", job.job_id)
                if writing is not None:  # writes (and acks) in the jobs' order
                    await writing
                    writing = None
                if scored is None:
                    await manual.ack(event)
                else:
                    writing = asyncio.create_task(written(scored, [event]))
        finally:
            if writing is not None:  # not acked: the job is read again after a restart
                writing.cancel()
