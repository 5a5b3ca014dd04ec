"""The predictor agent: rank every movie for a job's users in one vectorised step (the
version's ranking model orders the list; SVD gives each suggestion its predicted rating)
and replace their top-K suggestions in one transaction. Replaying a job gives the same
table; a job for a model that is no longer active is dropped."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust

from agents.decoding import decode
from agents.deps import WorkerDeps
from infra.repositories import Ids
from infra.repositories import models as models_repo
from infra.repositories import movies as movies_repo
from infra.repositories import ratings as ratings_repo
from infra.repositories import suggestions as suggestions_repo
from ml.serve import suggestion_rows
from ml.topk import RatedPairs
from schemas.events import PredictionJob
from streams.retry import with_retry

log = logging.getLogger(__name__)


async def predict_job(deps: WorkerDeps, job: PredictionJob) -> int:
    """Write the job's suggestions; returns the rows written (0 when dropped)."""
    pool = await deps.pool()

    async def read() -> tuple[models_repo.ModelVersion | None, Ids, ratings_repo.RatedPairsRead]:
        async with pool.acquire() as conn:
            active = await models_repo.active(conn)
            catalogue = await movies_repo.all_ids(conn)
            rated = await ratings_repo.rated_pairs(conn, job.user_ids)
        return active, catalogue, rated

    active, catalogue, rated = await with_retry("reading a job's data", read)
    if active is None or active.version_name != job.model_version:
        log.info("dropped a job for model %s: the active one is %s", job.model_version,
                 active.version_name if active else None)
        deps.metrics.jobs_dropped.inc()
        return 0
    bundle = await deps.bundle_of(active)
    if bundle is None:
        return 0
    rows = await asyncio.to_thread(
        suggestion_rows, bundle, job.user_ids, k=deps.settings.top_k,
        rated=RatedPairs.of(rated.user_ids, rated.movie_ids), catalogue=catalogue,
        hidden=RatedPairs.of(rated.hidden_user_ids, rated.hidden_movie_ids),
    )

    async def write() -> int:
        return await suggestions_repo.replace_in_parts(
            pool, job.user_ids, rows, job.model_version, rated_from=rated.rated_from,
            parts=deps.settings.prediction_write_parts)

    written = await with_retry("writing suggestions", write)
    deps.metrics.suggestions_written.inc(written)
    return written


def register(app: faust.App, deps: WorkerDeps) -> None:
    @app.agent(deps.topics.prediction_jobs, name="streamrec.predictor")
    async def predictor_agent(stream: faust.StreamT[Any]) -> None:
        async for event in stream.events():
            job = decode(event, PredictionJob, deps.metrics)
            if job is None:
                continue
            try:
                await predict_job(deps, job)
            except Exception:  # one bad job must not stop the others
                log.exception("prediction job %s failed", job.job_id)
