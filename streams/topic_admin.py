"""Kafka administration: streamrec's topics and their creation."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from infra.errors import ServiceUnavailable
from infra.kafka import KAFKA_HINT
from infra.settings import Settings
from schemas.errors import StreamrecError
from streams import publish_deadline

log = logging.getLogger(__name__)
DYNAMIC_TOPIC_CONFIG = 1  # a describe_configs entry's source: set on the topic itself


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: tuple[tuple[str, str], ...] = ()


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """streamrec's topics. ``retrain-requests`` has one partition: one trainer at a time.
    ``hidden-items`` ("not interested") is keyed and partitioned by user like ``ratings``;
    its bad events go to ``ratings-dlq`` too (each letter names its source topic), and so
    do ``impressions``'s (the lists the API served, keyed by user). The two that take the
    API's writes are stamped with the broker's append time, which is what a publish's
    deadline is judged by (:mod:`streams.publish_deadline`)."""
    stamped = publish_deadline.TOPIC_CONFIG
    return [
        TopicSpec(settings.topic("ratings"), settings.ratings_partitions, stamped),
        TopicSpec(settings.topic("hidden-items"), settings.ratings_partitions, stamped),
        TopicSpec(settings.topic("impressions"), settings.ratings_partitions),
        TopicSpec(settings.topic("ratings-dlq"), 1),
        TopicSpec(settings.topic("retrain-requests"), 1),
        TopicSpec(settings.topic("model-events"), 1),
        TopicSpec(settings.topic("prediction-jobs"), settings.prediction_jobs_partitions),
    ]


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
    """Create the missing topics of :func:`topic_specs` and give the existing ones the
    settings their spec names; returns the names created."""
    async with admin_client(settings) as admin:
        existing = set(await admin.list_topics())
        missing = [spec for spec in topic_specs(settings) if spec.name not in existing]
        await _align_configs(admin, [spec for spec in topic_specs(settings)
                                     if spec.name in existing and spec.config])
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


async def _align_configs(admin: AIOKafkaAdminClient, specs: list[TopicSpec]) -> None:
    """Set each topic's ``config`` where it differs (a topic made before streamrec named
    the setting, or by a broker's auto-creation). A topic's alteration replaces all of its
    own settings, so the ones set on it already are sent along."""
    if not specs:
        return
    responses = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, spec.name) for spec in specs])
    values: dict[str, dict[str, str]] = {}  # each topic's settings, whatever set them
    own: dict[str, dict[str, str]] = {}  # the ones set on the topic itself
    for response in responses:
        for _code, _message, _type, name, entries in response.resources:
            values[name] = {entry[0]: entry[1] for entry in entries}
            own[name] = {entry[0]: entry[1] for entry in entries
                         if entry[3] == DYNAMIC_TOPIC_CONFIG and entry[1] is not None}
    changes = [ConfigResource(ConfigResourceType.TOPIC, spec.name,
                              configs={**own.get(spec.name, {}), **dict(spec.config)})
               for spec in specs
               if any(values.get(spec.name, {}).get(key) != value for key, value in spec.config)]
    if not changes:
        return
    for response in await admin.alter_configs(changes):
        for code, message, _type, name in response.resources:
            if code != 0:
                raise StreamrecError(f"Kafka refused to configure topic {name}: {message or code}",
                                     hint="check the broker's log; the topic's settings are unchanged")
    log.info("topic settings aligned: %s", ", ".join(
        f"{change.name} {change.configs}" for change in changes))


async def delete_run_topics(settings: Settings, *, app_id: str | None = None) -> int:
    """Delete the topics of a run of its own: those under ``settings.topic_prefix`` and,
    with ``app_id``, the ones Faust made for that app id. Returns how many. (A broker
    keeps every partition's files open: topics left behind by test and benchmark runs
    add up to thousands of partitions and exhaust it.)"""
    if not settings.topic_prefix:
        raise ValueError("refusing to delete topics without a prefix of the run's own")
    async with admin_client(settings) as admin:
        prefixes = (settings.topic_prefix, *((f"{app_id}-",) if app_id is not None else ()))
        names = [t for t in await admin.list_topics() if t.startswith(prefixes)]
        if names:
            await admin.delete_topics(names)
    return len(names)

