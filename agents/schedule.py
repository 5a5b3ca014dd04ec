"""The scheduled retrain: a crontab (default the seed's 02:00) that asks for a model
unless no rating arrived since the active one was trained."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import faust

from agents.deps import WorkerDeps
from infra.repositories import models as models_repo
from infra.repositories import ratings as ratings_repo
from infra.repositories import retrain as retrain_repo
from schemas.events import RetrainRequest
from streams.retry import with_retry

log = logging.getLogger(__name__)


async def scheduled_request(deps: WorkerDeps) -> RetrainRequest | None:
    """The request to send now, or None when nothing changed since the active model."""
    pool = await deps.pool()

    async def state() -> tuple[datetime | None, datetime | None, int]:
        async with pool.acquire() as conn:
            newest = await ratings_repo.newest_ingested_at(conn)
            active = await models_repo.active(conn)
            pending = await retrain_repo.pending_count(conn)
        return newest, active.ratings_through if active else None, pending

    newest, trained_through, pending = await with_retry("reading the retrain state", state)
    if newest is None or (trained_through is not None and newest <= trained_through):
        log.info("scheduled retrain skipped: no rating since the active model")
        return None
    return RetrainRequest(reason="schedule", new_ratings=pending,
                          requested_at=datetime.now(UTC), request_id=str(uuid.uuid4()))


async def run_schedule(deps: WorkerDeps) -> bool:
    request = await scheduled_request(deps)
    if request is None:
        return False

    async def send() -> None:
        await (await deps.topics.retrain_requests.send(value=request))

    await with_retry("sending the scheduled retrain request", send)
    return True


def register(app: faust.App, deps: WorkerDeps) -> None:
    settings = deps.settings

    # on_leader: with several workers, one of them sends the request.
    @app.crontab(settings.retrain_cron, timezone=ZoneInfo(settings.retrain_timezone), on_leader=True)
    async def scheduled_retrain() -> None:
        await run_schedule(deps)
