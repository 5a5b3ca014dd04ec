"""A consumer of whole batches, for the topic where Faust's per-event stream is the
bottleneck: ``ratings`` (and ``hidden-items``, its sibling, read the same way).

Faust hands an agent one event at a time (a task, futures and an ack per event), which
costs about as much Python as validating and storing the event does; at thousands of
ratings a second that, not Postgres, was the limit. The ratings go through aiokafka's
``getmany`` instead: everything fetched so far, in one list, into the same batch handler.

Delivery is the agents' rule: offsets are committed only after the batch's effect is
durable (the handler returned), and a rebalance waits for the batch in flight, so a
partition changes hands at a committed offset. A crash redelivers the uncommitted batch;
the ingest is idempotent by event id. Being an aiokafka consumer, not Faust's, it has a
consumer group of its own: :func:`ratings_group`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError

from infra.settings import Settings
from schemas.ratings import Origin
from streams import publish_deadline
from streams.deadletter import RawMessage
from streams.retry import with_retry

log = logging.getLogger(__name__)

STOP_COMMIT_WAIT_S = 5.0  # how long a stopping consumer waits for its last commit

BatchHandler = Callable[[Sequence[RawMessage]], Awaitable[object]]
ExpiredCounter = Callable[[str, int], object]  # (topic, how many) of records past their deadline


def ratings_group(settings: Settings) -> str:
    """The ratings consumer's group: the app id's, suffixed (``topics lag`` shows both)."""
    return f"{settings.app_id}-ratings"


def hidden_group(settings: Settings) -> str:
    """The ``hidden-items`` consumer's group (``agents.hidden``), like the ratings one's."""
    return f"{settings.app_id}-hidden"


def impressions_group(settings: Settings) -> str:
    """The ``impressions`` consumer's group (``agents.impressions``)."""
    return f"{settings.app_id}-impressions"


class _FinishBatchBeforeRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    """Partitions are given up only between batches, once the last batch's offsets are
    committed, so always at a committed offset."""

    def __init__(self, owner: BatchConsumer, topic: str) -> None:
        self._owner = owner
        self._topic = topic

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        async with self._owner.in_flight:
            await self._owner.committed()

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("%s partitions assigned: %s", self._topic, sorted(tp.partition for tp in assigned))


class BatchConsumer:
    """Reads ``topic`` in batches of up to ``max_records`` and commits after ``handle``.
    A record the broker appended after its publish deadline was answered 503 (or nobody
    waited for it) and is not handed on: it is skipped, logged and counted by
    ``on_expired`` (:mod:`streams.publish_deadline`)."""

    def __init__(self, settings: Settings, topic: str, group: str, handle: BatchHandler, *,
                 max_records: int, max_wait_s: float, on_expired: ExpiredCounter | None = None) -> None:
        self._settings = settings
        self._topic = topic
        self._group = group
        self._handle = handle
        self._max_records = max_records
        self._max_wait_ms = int(max_wait_s * 1000)
        self._on_expired = on_expired
        self.in_flight = asyncio.Lock()  # held while a batch is handled
        self._commit_task: asyncio.Task[None] | None = None

    def _consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self._settings.kafka_bootstrap,
            group_id=self._group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self._max_records,
            # What a poll may wait for more data when it has some (the batch window).
            fetch_max_wait_ms=self._max_wait_ms,
            session_timeout_ms=30_000,
            heartbeat_interval_ms=3_000,
        )

    async def run(self) -> None:
        """Consume until cancelled."""
        consumer = self._consumer()
        await with_retry(f"connecting to Kafka for {self._topic}", consumer.start)
        try:
            consumer.subscribe([self._topic], listener=_FinishBatchBeforeRevoke(self, self._topic))
            while True:
                batch = await consumer.getmany(timeout_ms=1000, max_records=self._max_records)
                if batch:
                    async with self.in_flight:
                        messages, expired = _raw_messages(batch)
                        if expired:
                            self._expired(expired)
                        if messages:
                            await self._handle(messages)
                        # The commit goes on while the next batch is fetched and handled:
                        # an event waits for at most one batch, not a batch and a commit's
                        # round trip. Commits stay in order: the previous one ends first.
                        await self.committed()
                        self._commit_task = asyncio.create_task(self._commit(consumer, {
                            tp: records[-1].offset + 1 for tp, records in batch.items()}))
        finally:
            try:
                with contextlib.suppress(TimeoutError):  # given up: the batch is read again
                    await self.committed(at_most_s=STOP_COMMIT_WAIT_S)
            finally:
                await consumer.stop()

    def _expired(self, count: int) -> None:
        log.info("%s: %d event(s) appended after their publish deadline skipped "
                 "(answered 503, or not waited for)", self._topic, count)
        if self._on_expired is not None:
            self._on_expired(self._topic, count)

    async def committed(self, at_most_s: float | None = None) -> None:
        """Wait for the commit of the last batch handled, if it is still going on (at
        most ``at_most_s``: then it is given up, and the batch is read again)."""
        task, self._commit_task = self._commit_task, None
        if task is not None:
            await asyncio.wait_for(task, at_most_s)

    async def _commit(self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        try:
            await with_retry(f"committing {self._topic} offsets", lambda: consumer.commit(offsets))
        except CommitFailedError as err:
            # The group moved on (this member was too slow and was dropped): the new
            # owner reads these events again, which the idempotent ingest absorbs.
            log.warning("%s offsets not committed, the events will be read again: %s", self._topic, err)


def _raw_messages(batch: dict[TopicPartition, list]) -> tuple[list[RawMessage], int]:  # type: ignore[type-arg]
    """The batch's records as messages, and how many were left out as past their deadline."""
    messages: list[RawMessage] = []
    expired = 0
    for records in batch.values():
        for record in records:
            if publish_deadline.too_late(publish_deadline.publish_by(record.headers),
                                         record.timestamp, record.timestamp_type):
                expired += 1
                continue
            messages.append(RawMessage(
                key=record.key,
                value=record.value,
                origin=Origin(topic=record.topic, partition=record.partition, offset=record.offset,
                              timestamp_ms=record.timestamp if record.timestamp and record.timestamp > 0
                              else None),
            ))
    return messages, expired
