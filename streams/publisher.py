"""Publishing streamrec's events with aiokafka (API, CLI, tests and benchmarks)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from infra.errors import ServiceUnavailable
from infra.kafka import KAFKA_HINT
from infra.settings import Settings
from schemas.events import ModelPublished, RatingEvent, RetrainRequest
from schemas.ratings import encode_rating


class EventPublisher:
    """One producer per process; ``start``/``stop`` belong in a lifespan."""

    def __init__(self, settings: Settings, *, linger_ms: int = 5) -> None:
        self._settings = settings
        self._linger_ms = linger_ms
        self._producer: AIOKafkaProducer | None = None  # made in start(), on the running loop

    @property
    def started(self) -> bool:
        return self._producer is not None

    async def start(self) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self._settings.kafka_bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=self._linger_ms,
            request_timeout_ms=10_000,
        )
        try:
            await producer.start()
        except (KafkaError, OSError) as err:
            await producer.stop()
            raise ServiceUnavailable(
                f"cannot reach Kafka at {self._settings.kafka_bootstrap}: {err}", hint=KAFKA_HINT
            ) from err
        self._producer = producer

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def send(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        """Send and wait for the broker's acknowledgement."""
        if self._producer is None:
            raise ServiceUnavailable("the Kafka producer is not started", hint=KAFKA_HINT)
        try:
            await self._producer.send_and_wait(topic, value, key=key)
        except KafkaError as err:
            raise ServiceUnavailable(
                f"Kafka at {self._settings.kafka_bootstrap} did not accept the event: {err}",
                hint=KAFKA_HINT,
            ) from err

    async def publish_rating(self, event: RatingEvent) -> None:
        key, value = encode_rating(event)
        await self.send(self._settings.topic("ratings"), value, key)

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


def new_rating(user_id: int, movie_id: int, rating: float) -> RatingEvent:
    """A rating made now, with a fresh event id."""
    return RatingEvent(
        event_id=str(uuid.uuid4()),
        user_id=user_id,
        movie_id=movie_id,
        rating=rating,
        rated_at=datetime.now(UTC),
    )
