"""What a worker does before its agents start: wait until Kafka and Postgres answer.

A worker started with the rest of a stack (or restarted during an outage) must not exit
because a service is a few seconds slower than it: it retries with capped backoff and
logs each attempt. ``STREAMREC_WORKER_WAIT_FOR_SERVICES=false`` (or ``streamrec worker
--no-wait``) makes it exit at the first failure instead.
"""

from __future__ import annotations

import asyncio
import logging

from infra import db
from infra.errors import ServiceUnavailable
from infra.settings import Settings
from streams import topic_admin

log = logging.getLogger("streamrec.worker")

FIRST_DELAY_S = 1.0
MAX_DELAY_S = 15.0


async def services_ready(settings: Settings) -> None:
    """Kafka answers (and streamrec's topics exist) and Postgres takes a connection."""
    await topic_admin.ensure_topics(settings)  # with the configured partitions
    await db.ping(settings)


async def wait_for_services(settings: Settings, *, wait: bool, first_delay_s: float = FIRST_DELAY_S,
                            max_delay_s: float = MAX_DELAY_S) -> int:
    """Return once both services answer (the number of attempts it took); with
    ``wait=False``, :class:`ServiceUnavailable` at the first failure."""
    delay, attempt = first_delay_s, 1
    while True:
        try:
            await services_ready(settings)
            if attempt > 1:
                log.warning("Kafka and Postgres answer after %d attempts; starting", attempt)
            return attempt
        except ServiceUnavailable as err:
            if not wait:
                raise
            log.warning("waiting for services (attempt %d): %s; next try in %.0f s",
                        attempt, err.message, delay)
        await asyncio.sleep(delay)
        delay, attempt = min(delay * 2, max_delay_s), attempt + 1
