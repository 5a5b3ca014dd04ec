"""What every Kafka client of streamrec shares: the hint, log quieting, a readiness probe.

The local stack polls :func:`broker_answers` while Kafka starts, ``/readyz`` asks it per
check, and every tool in ``streams/`` names :data:`KAFKA_HINT` when the broker is away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

from aiokafka import AIOKafkaClient
from aiokafka.errors import KafkaError

KAFKA_HINT = "start the local stack with `streamrec stack up` or set STREAMREC_KAFKA_BOOTSTRAP"


async def broker_answers(bootstrap: str, timeout_s: float = 3.0) -> bool:
    """True when the broker answers a metadata request within ``timeout_s``."""
    # A refused connection is the expected answer while polling; aiokafka would log
    # each one as an error.
    with quiet_kafka_logs():
        return await _metadata_answered(bootstrap, timeout_s)


@contextlib.contextmanager
def quiet_kafka_logs() -> Iterator[None]:
    """aiokafka logs every refused connection as an error; callers report it once."""
    logger = logging.getLogger("aiokafka")
    previous = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(previous)


async def _metadata_answered(bootstrap: str, timeout_s: float) -> bool:
    client = AIOKafkaClient(
        bootstrap_servers=bootstrap,
        request_timeout_ms=int(timeout_s * 1000),
        metadata_max_age_ms=60_000,
    )
    try:
        await asyncio.wait_for(client.bootstrap(), timeout_s)
        return True
    except (KafkaError, OSError, TimeoutError):
        return False
    finally:
        with contextlib.suppress(Exception):
            await client.close()
