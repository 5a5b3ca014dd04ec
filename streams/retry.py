"""Retrying what can succeed later (Postgres or Kafka briefly away) with backoff.

A retriable failure is never dead-lettered: the agent waits, and its events stay
unacknowledged, so a crash meanwhile redelivers them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
from aiokafka.errors import KafkaError, KafkaTimeoutError

from infra.errors import ServiceUnavailable

T = TypeVar("T")
log = logging.getLogger(__name__)

RETRIABLE: tuple[type[BaseException], ...] = (
    OSError,  # connection refused / reset
    TimeoutError,
    ConnectionError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,  # e.g. the connection was closed mid-query
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    KafkaTimeoutError,  # a send that waited for an absent broker
    ServiceUnavailable,
)


def is_retriable(err: BaseException) -> bool:
    if isinstance(err, KafkaError) and getattr(err, "retriable", False):
        return True
    return isinstance(err, RETRIABLE)


async def with_retry(
    what: str,
    action: Callable[[], Awaitable[T]],
    *,
    first_delay_s: float = 0.2,
    max_delay_s: float = 5.0,
    on_retry: Callable[[BaseException], None] | None = None,
) -> T:
    """Run ``action`` until it succeeds; retriable errors wait with capped backoff."""
    delay = first_delay_s
    while True:
        try:
            return await action()
        except BaseException as err:
            if not is_retriable(err) or isinstance(err, asyncio.CancelledError):
                raise
            if on_retry is not None:
                on_retry(err)
            log.warning("%s failed (%s: %s); retrying in %.1f s", what, type(err).__name__, err, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay_s)
