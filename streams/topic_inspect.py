"""Kafka inspection for operators: topics, per-partition offsets, consumer-group lag.

Everything goes through :func:`connect`, which turns an unreachable broker or a failed
request into one :class:`ServiceUnavailable` naming the bootstrap address.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.errors import KafkaError

from infra.errors import ServiceUnavailable
from infra.kafka import KAFKA_HINT, quiet_kafka_logs
from infra.settings import Settings
from schemas.errors import StreamrecError
from streams import topic_admin


class UnknownTopic(StreamrecError):
    """No such topic (the hint lists the ones that exist)."""


class UnknownGroup(StreamrecError):
    """No such consumer group (the hint lists the ones that exist)."""


@dataclass
class Kafka:
    """An admin client and a consumer without a group, for reading offsets and records."""

    settings: Settings
    admin: AIOKafkaAdminClient
    consumer: AIOKafkaConsumer

    async def topic_names(self) -> list[str]:
        return sorted(await self.admin.list_topics())

    async def describe(self, names: list[str]) -> list[dict[str, Any]]:
        described: list[dict[str, Any]] = await self.admin.describe_topics(names)
        return [topic for topic in described if topic["error_code"] == 0]


@contextlib.asynccontextmanager
async def connect(settings: Settings) -> AsyncIterator[Kafka]:
    """Admin client + group-less consumer; a Kafka failure inside the block becomes a
    :class:`ServiceUnavailable` naming the address."""
    with quiet_kafka_logs():
        async with topic_admin.admin_client(settings) as admin:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=settings.kafka_bootstrap,
                enable_auto_commit=False,
                request_timeout_ms=10_000,
                # A first fetch may go out before a seek; do not let the broker hold it long.
                fetch_max_wait_ms=100,
            )
            try:
                await consumer.start()
            except (KafkaError, OSError) as err:
                with contextlib.suppress(Exception):
                    await consumer.stop()
                raise unreachable(settings, err) from err
            try:
                yield Kafka(settings, admin, consumer)
            except KafkaError as err:
                raise ServiceUnavailable(
                    f"Kafka at {settings.kafka_bootstrap} failed a request: {err!r}", hint=KAFKA_HINT
                ) from err
            finally:
                await consumer.stop()


def unreachable(settings: Settings, err: BaseException) -> ServiceUnavailable:
    return ServiceUnavailable(f"cannot reach Kafka at {settings.kafka_bootstrap}: {err}", hint=KAFKA_HINT)


# --- topics ----------------------------------------------------------------------------


def short_name(settings: Settings, topic: str) -> str:
    """``<prefix>ratings`` → ``ratings``; other topics keep their name."""
    prefix = settings.topic_prefix
    return topic[len(prefix):] if prefix and topic.startswith(prefix) else topic


def resolve_topic(settings: Settings, name: str, existing: list[str]) -> str:
    """The full name of ``name`` (short like ``ratings`` or full), or :class:`UnknownTopic`."""
    for candidate in (name, settings.topic(name)):
        if candidate in existing:
            return candidate
    ours = [short_name(settings, t) for t in existing if t.startswith(settings.topic_prefix)]
    if ours:
        hint = f"topics with prefix {settings.topic_prefix!r}: {', '.join(sorted(ours))}"
    else:
        hint = (f"no topic has the prefix {settings.topic_prefix!r} yet: create them with "
                "`streamrec topics create`; `streamrec topics list --all` shows every topic")
    raise UnknownTopic(f"no topic {name!r} (looked for {name!r} and {settings.topic(name)!r})", hint=hint)


@dataclass(frozen=True)
class PartitionInfo:
    partition: int
    leader: int
    replicas: int
    earliest: int
    latest: int

    @property
    def messages(self) -> int:
        return self.latest - self.earliest


@dataclass(frozen=True)
class TopicInfo:
    name: str
    partitions: list[PartitionInfo]

    @property
    def replication(self) -> int:
        return max((p.replicas for p in self.partitions), default=0)

    @property
    def end_offsets(self) -> int:
        return sum(p.latest for p in self.partitions)

    @property
    def messages(self) -> int:
        return sum(p.messages for p in self.partitions)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "partitions": len(self.partitions),
            "replication": self.replication,
            "end_offsets": self.end_offsets,
            "messages": self.messages,
        }


async def offsets(
    settings: Settings, tps: list[TopicPartition]
) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    """Earliest and latest offsets of many partitions at once."""
    if not tps:
        return {}, {}
    # Assigned partitions are in the client's metadata: one request per broker instead
    # of a metadata round trip per topic. A consumer of its own: aiokafka's fetcher can
    # hang on stop after an unsubscribe. Paused, so nothing is fetched.
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False,
                                request_timeout_ms=10_000)
    try:
        await consumer.start()
        consumer.assign(tps)
        consumer.pause(*tps)
        return await consumer.beginning_offsets(tps), await consumer.end_offsets(tps)
    except (KafkaError, OSError) as err:
        raise unreachable(settings, err) from err
    finally:
        await consumer.stop()


async def topic_infos(kafka: Kafka, names: list[str]) -> list[TopicInfo]:
    """Partitions, leaders and earliest/latest offsets of existing topics, in one pass."""
    if not names:
        return []
    described = await kafka.describe(names)
    tps = [TopicPartition(t["topic"], p["partition"]) for t in described for p in t["partitions"]]
    earliest, latest = await offsets(kafka.settings, tps)
    infos = []
    for topic in described:
        partitions = sorted(
            (
                PartitionInfo(
                    partition=p["partition"],
                    leader=p["leader"],
                    replicas=len(p["replicas"]),
                    earliest=earliest[TopicPartition(topic["topic"], p["partition"])],
                    latest=latest[TopicPartition(topic["topic"], p["partition"])],
                )
                for p in topic["partitions"]
            ),
            key=lambda p: p.partition,
        )
        infos.append(TopicInfo(topic["topic"], partitions))
    return sorted(infos, key=lambda info: info.name)


async def list_topics(kafka: Kafka, *, include_all: bool = False) -> list[TopicInfo]:
    """streamrec's topics (those with the configured prefix), or every topic."""
    names = await kafka.topic_names()
    if not include_all:
        names = [n for n in names if n.startswith(kafka.settings.topic_prefix)]
    return await topic_infos(kafka, names)


async def describe_topic(kafka: Kafka, name: str) -> TopicInfo:
    full = resolve_topic(kafka.settings, name, await kafka.topic_names())
    infos = await topic_infos(kafka, [full])
    if not infos:
        raise UnknownTopic(f"topic {full!r} disappeared while being described")
    return infos[0]


# --- consumer-group lag --------------------------------------------------------------


@dataclass(frozen=True)
class LagRow:
    topic: str
    partition: int
    end: int
    committed: int | None  # None: the group has not committed on this partition

    def lag(self, earliest: int) -> int:
        """Messages the group has still to read (from the earliest when nothing is committed)."""
        return max(0, self.end - (self.committed if self.committed is not None else earliest))


@dataclass(frozen=True)
class GroupLag:
    group: str
    state: str
    members: int
    rows: list[tuple[LagRow, int]]  # (row, lag)

    @property
    def total(self) -> int:
        return sum(lag for _, lag in self.rows)

    def as_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "state": self.state,
            "members": self.members,
            "total_lag": self.total,
            "partitions": [
                {"topic": row.topic, "partition": row.partition, "end_offset": row.end,
                 "committed": row.committed, "lag": lag}
                for row, lag in self.rows
            ],
        }


async def group_state(kafka: Kafka, group: str) -> tuple[str, int, set[str]]:
    """(state, member count, topics assigned to members) of a group; ``Dead`` if unknown."""
    responses = await kafka.admin.describe_consumer_groups([group])
    for response in responses:
        for described in response.to_object()["groups"]:
            if described["group"] != group or described["error_code"]:
                continue
            topics: set[str] = set()
            for member in described["members"]:
                with contextlib.suppress(Exception):  # a non-standard assignment format
                    assignment = ConsumerProtocolMemberAssignment.decode(member["member_assignment"])
                    topics |= {topic for topic, _ in assignment.assignment}
            return str(described["state"]), len(described["members"]), topics
    return "Dead", 0, set()


async def group_lag(kafka: Kafka, group: str) -> GroupLag:
    """End offset, committed offset and lag per partition of every topic ``group``
    consumes (committed offsets, plus what its members are assigned); works with no
    members, as long as the group has committed offsets."""
    known = sorted(name for name, *_ in await kafka.admin.list_consumer_groups())
    committed = await kafka.admin.list_consumer_group_offsets(group)
    if group not in known and not committed:
        listed = ", ".join(known[:30]) + (f", … ({len(known)} in all)" if len(known) > 30 else "")
        raise UnknownGroup(
            f"no consumer group {group!r}",
            hint=f"groups: {listed}" if known else "no consumer group exists yet: start a worker "
            "(`streamrec worker`) or pass --group",
        )
    state, members, assigned = await group_state(kafka, group)
    existing = set(await kafka.topic_names())
    topics = sorted(({tp.topic for tp in committed} | assigned) & existing)
    infos = await topic_infos(kafka, topics)
    rows = []
    for info in infos:
        for p in info.partitions:
            offset = committed.get(TopicPartition(info.name, p.partition))
            value = offset.offset if offset is not None and offset.offset >= 0 else None
            row = LagRow(info.name, p.partition, p.latest, value)
            rows.append((row, row.lag(p.earliest)))
    return GroupLag(group, state, members, rows)
