"""Publishing the retrain requests that ratings transactions put in the outbox.

Sent after the commit, marked sent after the broker acknowledged them: a crash in
between sends a request twice (same request id), which the trainer collapses.
"""

from __future__ import annotations

import logging

from agents.deps import WorkerDeps
from infra.repositories import retrain as retrain_repo
from schemas.events import RetrainRequest
from streams.retry import with_retry

log = logging.getLogger(__name__)


async def flush_retrain_outbox(deps: WorkerDeps) -> int:
    pool = await deps.pool()

    async def flush() -> int:
        async with pool.acquire() as conn:
            unsent = await retrain_repo.unsent(conn)
            for request in unsent:
                delivery = await deps.topics.retrain_requests.send(value=RetrainRequest(
                    reason=request.reason,
                    new_ratings=request.new_ratings,
                    requested_at=request.created_at,
                    request_id=request.request_id,
                ))
                await delivery
                await retrain_repo.mark_sent(conn, [request.request_id])
                log.info("requested a retrain (%s, %d new ratings)", request.reason, request.new_ratings)
            return len(unsent)

    return await with_retry("publishing retrain requests", flush)
