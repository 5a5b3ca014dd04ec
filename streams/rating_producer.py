"""Publishing many rating events: from a file, or drawn from the synthetic demo model.

Events are sent in batches (send many, then wait for the whole batch's
acknowledgements), optionally paced to a rate in events per second.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from infra.demo_data import DEMO_MOVIES, DEMO_USERS
from infra.errors import ServiceUnavailable
from infra.importer import epoch_micros, rating_event_id
from infra.kafka import KAFKA_HINT, quiet_kafka_logs
from infra.settings import Settings
from ml.data import load_ratings
from ml.errors import DataFormatError
from ml.synthetic import generate
from schemas.errors import StreamrecError
from schemas.events import RatingEvent
from schemas.ratings import encode_rating
from streams import topic_admin

Message = tuple[bytes | None, bytes]
JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")
JSONL_HINT = ('each line must be a JSON object with an integer user_id (and movie_id, rating; '
              'or "op": "remove" and movie_id to remove a rating)')


@dataclass(frozen=True)
class Messages:
    """Messages to publish, how many, and what they are (for the report)."""

    count: int
    items: Iterator[Message]
    description: str


def _is_json_lines(path: Path) -> bool:
    if path.suffix.lower() in JSON_SUFFIXES:
        return True
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                return line.lstrip().startswith(b"{")
    return False


def _json_lines(path: Path) -> list[Message]:
    """Each line as published (the worker validates it: a rating, or a removal with
    ``"op": "remove"``); the key is its user_id."""
    messages: list[Message] = []
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.strip()
            if not line:
                continue
            try:
                payload = json.loads(line)
            except (UnicodeDecodeError, ValueError) as err:
                raise DataFormatError(f"not JSON: {err}", path=path, line=number, hint=JSONL_HINT) from err
            user = payload.get("user_id") if isinstance(payload, dict) else None
            if isinstance(user, bool) or not isinstance(user, int):
                raise DataFormatError("no integer user_id", path=path, line=number, hint=JSONL_HINT)
            messages.append((str(user).encode(), line))
    return messages


def _frame_messages(frame: pd.DataFrame, source: str) -> Iterator[Message]:
    """Rating events of a loaded ratings file, with the ids `data import` gives them."""
    micros = epoch_micros(frame["rated_at"]).tolist()
    users = frame["user_id"].to_numpy(np.int64).tolist()
    movies = frame["movie_id"].to_numpy(np.int64).tolist()
    values = frame["rating"].to_numpy(np.float64).tolist()
    for user, movie, value, stamp in zip(users, movies, values, micros, strict=True):
        rated_at = (datetime.fromtimestamp(stamp / 1_000_000, UTC) if stamp >= 0 else datetime.now(UTC))
        event = RatingEvent(
            event_id=str(rating_event_id(source, user, movie, stamp if stamp >= 0 else None)),
            user_id=user, movie_id=movie, rating=value, rated_at=rated_at,
        )
        yield encode_rating(event)


def from_file(path: Path, format: str = "auto") -> Messages:
    """A MovieLens-style ratings file (any format ml.data reads) or a JSON-lines file."""
    if not path.is_file():
        raise StreamrecError(f"{path}: no such file", hint="check the path")
    if _is_json_lines(path):
        messages = _json_lines(path)
        return Messages(len(messages), iter(messages), f"{path.name} (JSON lines)")
    loaded = load_ratings(path, format)
    return Messages(len(loaded.frame), _frame_messages(loaded.frame, loaded.path.name),
                    f"{loaded.path.name} ({loaded.format})")


def synthetic(n: int, seed: int) -> Messages:
    """``n`` ratings over the demo set's users and movies (so the movies exist), rated now."""
    capacity = DEMO_USERS * DEMO_MOVIES

    def items() -> Iterator[Message]:
        left, round_ = n, 0
        while left > 0:
            size = min(left, capacity // 2)
            data = generate(DEMO_USERS, DEMO_MOVIES, size, seed=seed + round_)
            rows = data.ratings.sample(frac=1.0, random_state=seed + round_)  # not sorted by user
            for user, movie, value in zip(rows["user_id"].tolist(), rows["movie_id"].tolist(),
                                          rows["rating"].tolist(), strict=True):
                yield encode_rating(RatingEvent(
                    event_id=str(uuid.uuid4()), user_id=int(user), movie_id=int(movie),
                    rating=float(value), rated_at=datetime.now(UTC),
                ))
            left -= size
            round_ += 1

    return Messages(n, items(), f"{n} synthetic ratings (seed {seed})")


@dataclass(frozen=True)
class ProduceResult:
    topic: str
    sent: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0

    def as_json(self) -> dict[str, Any]:
        return {"topic": self.topic, "sent": self.sent, "seconds": round(self.seconds, 3),
                "events_per_s": round(self.rate, 1)}


def _chunks(items: Iterator[Message], size: int) -> Iterator[Sequence[Message]]:
    chunk: list[Message] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def publish(
    settings: Settings, messages: Messages, *, batch: int = 1000, rate: float | None = None,
    on_sent: Callable[[int], None] = lambda n: None,
) -> ProduceResult:
    """Send ``messages`` to the ratings topic in batches, paced to ``rate`` events/s."""
    topic = settings.topic("ratings")
    with quiet_kafka_logs():
        await topic_admin.ensure_topics(settings)  # never let the broker auto-create it
    if rate is not None:
        batch = max(1, min(batch, int(rate / 10)))  # about ten sends a second at most
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True,
        linger_ms=10, max_batch_size=256 * 1024, request_timeout_ms=10_000,
    )
    sent = 0
    with quiet_kafka_logs():
        try:
            await producer.start()
        except (KafkaError, OSError) as err:
            await producer.stop()
            raise ServiceUnavailable(f"cannot reach Kafka at {settings.kafka_bootstrap}: {err}",
                                     hint=KAFKA_HINT) from err
        started = time.monotonic()
        try:
            for chunk in _chunks(messages.items, batch):
                futures = [await producer.send(topic, value, key=key) for key, value in chunk]
                await asyncio.gather(*futures)
                sent += len(chunk)
                on_sent(len(chunk))
                if rate:
                    ahead = started + sent / rate - time.monotonic()
                    if ahead > 0:
                        await asyncio.sleep(ahead)
        except KafkaError as err:
            raise ServiceUnavailable(
                f"Kafka at {settings.kafka_bootstrap} did not accept the events after {sent} sent: {err!r}",
                hint=KAFKA_HINT,
            ) from err
        finally:
            await producer.stop()
    return ProduceResult(topic, sent, time.monotonic() - started)
