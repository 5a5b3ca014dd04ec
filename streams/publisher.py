"""Publishing streamrec's events with aiokafka (API, CLI, tests and benchmarks)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.structs import RecordMetadata

from infra.errors import ServiceUnavailable
from infra.kafka import KAFKA_HINT, quiet_kafka_logs
from infra.settings import Settings
from schemas.events import HiddenEvent, ModelPublished, RatingEvent, RatingRemoved, RetrainRequest
from schemas.hidden import encode_hidden
from schemas.ratings import encode_rating, encode_removal
from streams import publish_deadline

log = logging.getLogger(__name__)
STOP_MARGIN_S = 5.0


class EventPublisher:
    """One producer per process; ``start``/``stop`` belong in a lifespan.

    ``timeout_s`` bounds starting and each send: past it the caller gets
    :class:`ServiceUnavailable` (the API answers 503 instead of hanging while Kafka is
    away), and the event carries a deadline past which the worker drops it, so a 503
    means the event is not applied (:mod:`streams.publish_deadline`).
    """

    def __init__(self, settings: Settings, *, linger_ms: int = 5, timeout_s: float | None = None) -> None:
        self._settings = settings
        self._linger_ms = linger_ms
        self._timeout_s = timeout_s
        self._producer: AIOKafkaProducer | None = None  # made in start(), on the running loop
        self._partitioner = DefaultPartitioner()  # the producer's own choice of partition by key
        self._unstamped: set[str] = set()  # topics warned about: no broker append time

    @property
    def started(self) -> bool:
        return self._producer is not None

    async def start(self) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self._settings.kafka_bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=self._linger_ms,
            # Unsent events expire after this: with a bound, the same bound.
            request_timeout_ms=10_000 if self._timeout_s is None else max(1000, int(self._timeout_s * 1000)),
        )
        try:
            await asyncio.wait_for(producer.start(), self._timeout_s)
        except (KafkaError, OSError, TimeoutError) as err:
            await producer.stop()
            raise ServiceUnavailable(
                f"cannot reach Kafka at {self._settings.kafka_bootstrap}: {err}", hint=KAFKA_HINT
            ) from err
        self._producer = producer

    async def stop(self) -> None:
        """Flush and close. aiokafka's stop waits for unsent events until they expire
        (the request timeout, so ``timeout_s`` when set); past that and a margin it is
        given up on, so a shutdown with Kafka away cannot hang."""
        if self._producer is not None:
            producer, self._producer = self._producer, None
            bound = None if self._timeout_s is None else self._timeout_s + STOP_MARGIN_S
            try:
                await asyncio.wait_for(producer.stop(), bound)
            except TimeoutError:
                log.warning("the Kafka producer did not flush within %s s; events it held "
                            "were not acknowledged (their requests were answered 503)", self._timeout_s)

    async def check(self) -> None:
        """A metadata request over the producer's existing connections (no new socket);
        :class:`ServiceUnavailable` when Kafka does not answer within ``timeout_s``."""
        if self._producer is None:
            raise ServiceUnavailable("the Kafka producer is not started", hint=KAFKA_HINT)
        try:
            with quiet_kafka_logs():
                await asyncio.wait_for(self._producer.client.fetch_all_metadata(), self._timeout_s)
        except (KafkaError, OSError, TimeoutError) as err:
            raise ServiceUnavailable(
                f"Kafka at {self._settings.kafka_bootstrap} did not answer a metadata request",
                hint=KAFKA_HINT) from err

    async def send(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        """Send and wait for the broker's acknowledgement. With ``timeout_s``, the event
        carries a deadline (:mod:`streams.publish_deadline`): :class:`ServiceUnavailable`
        means the event will not be applied, even if Kafka appends it later."""
        if self._producer is None:
            raise ServiceUnavailable("the Kafka producer is not started", hint=KAFKA_HINT)
        if self._timeout_s is None:
            await self._send_and_wait(self._producer, topic, value, key, headers=None)
            return
        publish_by_ms = publish_deadline.deadline_ms(time.time(), self._timeout_s)
        metadata = await self._send_and_wait(self._producer, topic, value, key,
                                             headers=[publish_deadline.header(publish_by_ms)])
        if metadata.timestamp_type != publish_deadline.LOG_APPEND_TIME:
            self._warn_unstamped(topic)
        elif metadata.timestamp > publish_by_ms:
            raise ServiceUnavailable(
                f"Kafka at {self._settings.kafka_bootstrap} appended the event "
                f"{metadata.timestamp - publish_by_ms} ms after its deadline; it will not be applied",
                hint=KAFKA_HINT)

    async def _send_and_wait(self, producer: AIOKafkaProducer, topic: str, value: bytes,
                             key: bytes | None, headers: list[tuple[str, bytes]] | None) -> RecordMetadata:
        async def sent() -> RecordMetadata:
            acknowledged = await producer.send(topic, value, key=key, headers=headers)
            return await acknowledged

        try:
            return await asyncio.wait_for(sent(), self._timeout_s)
        except TimeoutError as err:
            raise ServiceUnavailable(
                f"Kafka at {self._settings.kafka_bootstrap} did not acknowledge the event within "
                f"{self._timeout_s:g} s; it will not be applied", hint=KAFKA_HINT,
            ) from err
        except KafkaError as err:
            raise ServiceUnavailable(
                f"Kafka at {self._settings.kafka_bootstrap} did not accept the event: {err}",
                hint=KAFKA_HINT,
            ) from err

    def _warn_unstamped(self, topic: str) -> None:
        if topic not in self._unstamped:
            self._unstamped.add(topic)
            log.warning("topic %s keeps the producer's timestamps, so an event answered 503 may "
                        "still be applied; `streamrec topics create` sets message.timestamp.type="
                        "LogAppendTime", topic)

    async def send_many(self, topic: str, records: list[tuple[bytes, bytes]]) -> None:
        """Send keyed records and wait until the broker acknowledged every one (within
        ``timeout_s`` overall); :class:`ServiceUnavailable` otherwise. Records are
        appended to one batch per partition (the partition ``send`` would choose for the
        key), a fifth of ``send``'s cost per record."""
        if self._producer is None:
            raise ServiceUnavailable("the Kafka producer is not started", hint=KAFKA_HINT)
        producer = self._producer

        async def send_all() -> None:
            partitions = sorted(await producer.partitions_for(topic))
            batches: dict[int, BatchBuilder] = {}
            pending = []
            for key, value in records:
                partition = self._partitioner(key, partitions, partitions)
                batch = batches.get(partition)
                if batch is None or batch.append(key=key, value=value, timestamp=None) is None:
                    if batch is not None:  # full: sent, and a new one started
                        pending.append(await producer.send_batch(batch, topic, partition=partition))
                    batch = batches[partition] = producer.create_batch()
                    batch.append(key=key, value=value, timestamp=None)
            for partition, batch in batches.items():
                pending.append(await producer.send_batch(batch, topic, partition=partition))
            await asyncio.gather(*pending)

        try:
            await asyncio.wait_for(send_all(), self._timeout_s)
        except (TimeoutError, KafkaError) as err:
            raise ServiceUnavailable(
                f"Kafka at {self._settings.kafka_bootstrap} did not acknowledge {len(records)} "
                f"event(s) within {self._timeout_s} s", hint=KAFKA_HINT) from err

    async def publish_rating(self, event: RatingEvent) -> None:
        key, value = encode_rating(event)
        await self.send(self._settings.topic("ratings"), value, key)

    async def publish_removal(self, event: RatingRemoved) -> None:
        """On the ratings topic, keyed by the user: ordered with that user's ratings."""
        key, value = encode_removal(event)
        await self.send(self._settings.topic("ratings"), value, key)

    async def publish_hidden(self, event: HiddenEvent) -> None:
        key, value = encode_hidden(event)
        await self.send(self._settings.topic("hidden-items"), value, key)

    async def request_retrain(self, reason: str, new_ratings: int = 0) -> RetrainRequest:
        request = RetrainRequest(
            reason=reason,
            new_ratings=new_ratings,
            requested_at=datetime.now(UTC),
            request_id=str(uuid.uuid4()),
        )
        await self.send(self._settings.topic("retrain-requests"), request.dumps())
        return request

    async def publish_model(self, published: ModelPublished) -> None:
        """Announce a model decision; an activated model makes the fan-out agent run."""
        await self.send(self._settings.topic("model-events"), published.dumps())


def new_rating(user_id: int, movie_id: int, rating: float, event_id: str | None = None) -> RatingEvent:
    """A rating made now, with the given event id or a fresh one."""
    return RatingEvent(
        event_id=event_id or str(uuid.uuid4()),
        user_id=user_id,
        movie_id=movie_id,
        rating=rating,
        rated_at=datetime.now(UTC),
    )


def new_removal(user_id: int, movie_id: int, event_id: str | None = None) -> RatingRemoved:
    """A removal of the user's rating of the movie, made now, with the given event id or
    a fresh one."""
    return RatingRemoved(event_id=event_id or str(uuid.uuid4()), user_id=user_id, movie_id=movie_id,
                         rated_at=datetime.now(UTC))


def new_hidden(user_id: int, movie_id: int, hidden: bool, event_id: str | None = None) -> HiddenEvent:
    """A hide (``hidden``) or unhide made now, with the given event id or a fresh one."""
    return HiddenEvent(event_id=event_id or str(uuid.uuid4()), user_id=user_id, movie_id=movie_id,
                       hidden=hidden, at=datetime.now(UTC))
