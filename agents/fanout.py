"""The fan-out agent: an activated model becomes one prediction job per batch of users
(sent first), then its ranking model's item side the similar movies of every movie."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import faust

from agents.decoding import decode
from agents.deps import WorkerDeps
from infra.repositories import catalogue as catalogue_repo
from infra.repositories import models as models_repo
from infra.repositories import ratings as ratings_repo
from ml.ranking import similar_movies
from schemas.events import ModelPublished, PredictionJob
from streams.retry import with_retry

log = logging.getLogger(__name__)


def split_jobs(model_version: str, user_ids: list[int], batch_size: int) -> list[PredictionJob]:
    return [
        PredictionJob(
            model_version=model_version,
            user_ids=user_ids[start:start + batch_size],
            job_id=str(uuid.uuid4()),
        )
        for start in range(0, len(user_ids), batch_size)
    ]


async def fan_out(deps: WorkerDeps, published: ModelPublished) -> int:
    """Send the jobs of an activated model; returns how many. The database is the
    truth: an announcement of a version that is not the active one sends nothing."""
    if not published.activated or published.covered:
        return 0
    pool = await deps.pool()

    async def active_version() -> models_repo.ModelVersion | None:
        async with pool.acquire() as conn:
            return await models_repo.active(conn)

    active = await with_retry("reading the active model", active_version)
    if active is None or active.version_name != published.version:
        log.warning("model %s announced as activated, but the active model is %s: no jobs",
                    published.version[:80], active.version_name if active else None)
        return 0

    async def users() -> list[int]:
        async with pool.acquire() as conn:
            return await ratings_repo.users_with_ratings(conn)

    jobs = split_jobs(published.version, await with_retry("listing users", users),
                      deps.settings.prediction_batch_size)

    async def send_all() -> None:
        # Keyed by the first user, so jobs spread over the partitions and predictors.
        pending = [await deps.topics.prediction_jobs.send(key=str(job.user_ids[0]), value=job)
                   for job in jobs]
        await asyncio.gather(*pending)

    await with_retry("sending prediction jobs", send_all)
    log.info("model %s: %d prediction job(s) for %d user(s)", published.version, len(jobs),
             sum(len(job.user_ids) for job in jobs))
    # After the jobs: the lists are what users wait for; similar movies (movies x movies
    # work) are written while the predictors run.
    await write_similar(deps, active)
    return len(jobs)


SIMILAR_PER_MOVIE = 20


async def write_similar(deps: WorkerDeps, version: models_repo.ModelVersion) -> int:
    """The similar movies of every movie the version's ranking model knows; a version
    without one (or whose artifact is refused) leaves the table as it is."""
    bundle = await deps.bundle_of(version)
    if bundle is None or bundle.ranking is None:
        return 0
    pool = await deps.pool()
    movies, similar, scores = await asyncio.to_thread(similar_movies, bundle.ranking, SIMILAR_PER_MOVIE)

    async def write() -> int:
        async with pool.acquire() as conn:
            return await catalogue_repo.replace_similar(conn, movies.tolist(), similar.tolist(),
                                                        scores.tolist(), version.version_name)

    return await with_retry("writing similar movies", write)


def register(app: faust.App, deps: WorkerDeps) -> None:
    @app.agent(deps.topics.model_events, name="streamrec.fanout")
    async def fanout_agent(stream: faust.StreamT[Any]) -> None:
        async for event in stream.events():
            published = decode(event, ModelPublished, deps.metrics)
            if published is not None:
                await fan_out(deps, published)
