"""Kafka administration: broker readiness, streamrec's topics and their creation."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from aiokafka import AIOKafkaClient
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from infra.errors import ServiceUnavailable, StreamrecError
from infra.settings import Settings

KAFKA_HINT = "start the local stack with `streamrec stack up` or set STREAMREC_KAFKA_BOOTSTRAP"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: tuple[tuple[str, str], ...] = ()


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """streamrec's topics. ``retrain-requests`` has one partition: one trainer at a time."""
    return [
        TopicSpec(settings.topic("ratings"), settings.ratings_partitions),
        TopicSpec(settings.topic("ratings-dlq"), 1),
        TopicSpec(settings.topic("retrain-requests"), 1),
        TopicSpec(settings.topic("model-events"), 1),
        TopicSpec(settings.topic("prediction-jobs"), settings.prediction_jobs_partitions),
    ]


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


@contextlib.asynccontextmanager
async def admin_client(settings: Settings) -> AsyncIterator[AIOKafkaAdminClient]:
    """An admin client, or :class:`ServiceUnavailable` naming the bootstrap address."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=10_000)
    try:
        await admin.start()
    except (KafkaError, OSError) as err:
        with contextlib.suppress(Exception):
            await admin.close()
        raise ServiceUnavailable(
            f"cannot reach Kafka at {settings.kafka_bootstrap}: {err}",
            hint=KAFKA_HINT,
        ) from err
    try:
        yield admin
    finally:
        await admin.close()


async def ensure_topics(settings: Settings) -> list[str]:
    """Create the missing topics of :func:`topic_specs`; returns the names created."""
    async with admin_client(settings) as admin:
        existing = set(await admin.list_topics())
        missing = [spec for spec in topic_specs(settings) if spec.name not in existing]
        if missing:
            new_topics = [
                NewTopic(
                    name=spec.name,
                    num_partitions=spec.partitions,
                    replication_factor=settings.kafka_replication,
                    topic_configs=dict(spec.config),
                )
                for spec in missing
            ]
            response = await admin.create_topics(new_topics)
            for name, code, *rest in response.topic_errors:
                # Another process may create the same topic meanwhile; that is fine.
                if code not in (0, TopicAlreadyExistsError.errno):
                    detail = rest[0] if rest and rest[0] else for_code(code).__name__
                    raise StreamrecError(
                        f"Kafka refused to create topic {name}: {detail}",
                        hint="check the broker's log and the partition/replication settings",
                    )
        return [spec.name for spec in missing]
