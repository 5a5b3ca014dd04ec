"""The app's resources: the Postgres pool and the Kafka publisher, opened lazily.

The lifespan opens both; when one cannot be reached then, the API still starts (it
serves what it can: suggestions need only Postgres, ratings only Kafka) and the next
request that needs the service tries again, at most once per ``RETRY_AFTER_S`` so a
service that is down is not hammered; meanwhile such requests get a 503 at once.
"""

from __future__ import annotations

import asyncio
import logging
import time

import asyncpg
from starlette.requests import Request

from api.impressions import ImpressionLog
from api.metrics import Metrics
from api.throttle import FailureThrottle
from infra import db
from infra.errors import ServiceUnavailable
from infra.settings import Settings
from streams.publisher import EventPublisher

log = logging.getLogger("streamrec.api")

RETRY_AFTER_S = 1.0


class Services:
    """Settings, metrics, the pool and the publisher of one app instance."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self._pool: asyncpg.Pool | None = None
        self._publisher = EventPublisher(settings, timeout_s=settings.api_publish_timeout_s)
        self._pool_lock = asyncio.Lock()
        self._kafka_lock = asyncio.Lock()
        self._pool_error: tuple[float, ServiceUnavailable] | None = None
        self._kafka_error: tuple[float, ServiceUnavailable] | None = None
        self.impressions = ImpressionLog(settings, metrics, self.publisher)
        # Wrong admin tokens, by client address.
        self.sign_in_failures = FailureThrottle(max_failures=settings.api_admin_failures_per_minute)

    async def open(self) -> None:
        """Try both services; one that is down is logged, not fatal."""
        for name, opener in (("postgres", self.pool), ("kafka", self.publisher)):
            try:
                await opener()
            except ServiceUnavailable as err:
                log.warning("API starting without %s: %s", name, err.describe())
        self.impressions.start()

    async def close(self) -> None:
        await self.impressions.stop()
        await self._publisher.stop()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def pool(self) -> asyncpg.Pool:
        """The pool, created now if the lifespan could not (ServiceUnavailable if still down)."""
        if self._pool is not None:
            return self._pool
        async with self._pool_lock:
            if self._pool is None:
                self._raise_if_recent(self._pool_error)
                try:
                    self._pool = await db.create_pool(self.settings, reset_sessions=False,
                                                      command_timeout_s=self.settings.api_db_timeout_s,
                                                      connect_timeout_s=self.settings.api_db_timeout_s)
                except ServiceUnavailable as err:
                    self._pool_error = (time.monotonic(), err)
                    raise
                self._pool_error = None
            return self._pool

    async def publisher(self) -> EventPublisher:
        """The started publisher, started now if needed (ServiceUnavailable if Kafka is down)."""
        if self._publisher.started:
            return self._publisher
        async with self._kafka_lock:
            if not self._publisher.started:
                self._raise_if_recent(self._kafka_error)
                try:
                    await self._publisher.start()
                except ServiceUnavailable as err:
                    self._kafka_error = (time.monotonic(), err)
                    raise
                self._kafka_error = None
            return self._publisher

    @staticmethod
    def _raise_if_recent(failure: tuple[float, ServiceUnavailable] | None) -> None:
        if failure is not None and time.monotonic() - failure[0] < RETRY_AFTER_S:
            raise ServiceUnavailable(failure[1].message, hint=failure[1].hint)


def services_of(request: Request) -> Services:
    services = request.app.state.services
    assert isinstance(services, Services)
    return services
