"""What the ``ratings`` topic accepts: strict, explicit rules shared by the agent and API.

Producers are not all Python, so a message is plain JSON
``{"event_id", "user_id", "movie_id", "rating", "rated_at"}`` keyed by the user id as
a string. ``event_id`` and ``rated_at`` may be omitted: they are derived from the
message's topic/partition/offset and timestamp, so a redelivery gets the same id.
Ids must be JSON integers (``"1"`` and ``true`` are refused, not coerced).

A user taking back a rating is a message of the same topic with an explicit marker,
``{"op": "remove", "event_id", "user_id", "movie_id", "rated_at"}`` (no ``rating``;
``rated_at`` is when it was removed): it travels with the user's ratings, in their
partition and order. ``op`` is optional and ``"rate"`` by default, so producers that
never send it are unaffected; any other value (or a removal carrying a ``rating``) is
dead-lettered as ``invalid_op``. Per (user, movie) the latest ``rated_at`` wins, over
ratings and removals alike (a tie: the removal).

Validation is total: any bytes give a :class:`RatingEvent` or an :class:`Invalid` with a
reason, never an exception (size, nesting depth and number length are bounded by
:mod:`schemas.wire`; ``rated_at`` must fall in a :class:`TimeWindow`).
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import NamedTuple

from schemas.events import RatingEvent, RatingRemoved
from schemas.wire import DEFAULT_WINDOW, TimeWindow, Unreadable, load_json

MAX_MESSAGE_BYTES = 16 * 1024
RATING_MIN, RATING_MAX = 0.5, 5.0
MAX_ID = 2**31 - 1  # Postgres integer
# Namespace of derived event ids (uuid5 of "topic:partition:offset").
EVENT_ID_NAMESPACE = uuid.UUID("6f0c1a52-3b7e-4f0e-9d1c-5a7e2b9c4d10")


class Reason(StrEnum):
    """Why an event went to the dead-letter topic."""

    OVERSIZED = "oversized"
    INVALID_JSON = "invalid_json"
    TOO_DEEP = "too_deep"
    NUMBER_TOO_LARGE = "number_too_large"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    OUT_OF_RANGE = "out_of_range"
    INVALID_EVENT_ID = "invalid_event_id"
    INVALID_RATED_AT = "invalid_rated_at"
    INVALID_AT = "invalid_at"  # a hidden-items event's ``at``, an impression's ``served_at``
    WRONG_KEY = "wrong_key"
    INVALID_OP = "invalid_op"  # ``op`` neither "rate" nor "remove", or a removal with a rating
    UNKNOWN_MOVIE = "unknown_movie"
    REJECTED_BY_DATABASE = "rejected_by_database"
    # Handling the event raised an error that is not an outage: a bug or an input no
    # rule foresaw. The event is dead-lettered so that it cannot stop its partition.
    INTERNAL_ERROR = "internal_error"
    SKIPPED_BY_OPERATOR = "skipped_by_operator"  # `streamrec dlq skip`


@dataclass(frozen=True)
class Invalid:
    reason: Reason
    detail: str


class Origin(NamedTuple):
    """Where a message came from; derives the defaults of omitted fields.  (A named
    tuple: one is made per consumed message, and it is cheaper than a frozen dataclass.)"""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None

    def event_id(self) -> str:
        return str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{self.topic}:{self.partition}:{self.offset}"))

    def timestamp(self) -> datetime:
        if self.timestamp_ms is None or self.timestamp_ms < 0:
            return datetime.now(UTC)
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)


def is_valid_rating(value: float) -> bool:
    """0.5 .. 5.0 in steps of 0.5 (False, not an error, for a number no float holds)."""
    try:
        value = float(value)
    except (OverflowError, ValueError, TypeError):
        return False
    return math.isfinite(value) and RATING_MIN <= value <= RATING_MAX and (value * 2).is_integer()


def _positive_id(payload: dict[str, object], field: str) -> int | Invalid:
    value = payload[field]
    if isinstance(value, bool) or not isinstance(value, int):
        return Invalid(Reason.WRONG_TYPE, f"{field} must be an integer, got {type(value).__name__}")
    if not 0 < value <= MAX_ID:
        return Invalid(Reason.OUT_OF_RANGE, f"{field} must be between 1 and {MAX_ID}, got {value}")
    return value


def _rating(payload: dict[str, object]) -> float | Invalid:
    value = payload["rating"]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return Invalid(Reason.WRONG_TYPE, f"rating must be a number, got {type(value).__name__}")
    if not is_valid_rating(value):
        return Invalid(Reason.OUT_OF_RANGE,
                       f"rating must be 0.5..5.0 in steps of 0.5, got {str(value)[:32]}")
    return float(value)


def _event_id(payload: dict[str, object], origin: Origin) -> str | Invalid:
    value = payload.get("event_id")
    if value is None:
        return origin.event_id()
    if not isinstance(value, str):
        return Invalid(Reason.INVALID_EVENT_ID, "event_id must be a UUID string")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return Invalid(Reason.INVALID_EVENT_ID, f"event_id is not a UUID: {value[:64]!r}")


def _rated_at(payload: dict[str, object], origin: Origin, window: TimeWindow) -> datetime | Invalid:
    parsed = _parse_time(payload.get("rated_at"), origin)
    if isinstance(parsed, datetime):
        refused = window.refuses(parsed, datetime.now(UTC))
        if refused is not None:
            return Invalid(Reason.INVALID_RATED_AT, refused)
    return parsed


def _parse_time(value: object, origin: Origin) -> datetime | Invalid:
    try:
        if value is None:
            return origin.timestamp()  # the producer's message time; windowed like any other
        if isinstance(value, str):
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC)  # epoch seconds
    except (ValueError, OverflowError, OSError):
        pass
    if value is None:
        return Invalid(Reason.INVALID_RATED_AT, f"the message's timestamp {origin.timestamp_ms} is no time")
    return Invalid(Reason.INVALID_RATED_AT,
                   "rated_at must be an ISO 8601 time or epoch seconds, got " + repr(value)[:64])


def _removal(payload: dict[str, object]) -> bool | Invalid:
    """Whether the message removes a rating (``"op": "remove"``) rather than gives one."""
    op = payload.get("op", "rate")
    if not isinstance(op, str):
        return Invalid(Reason.WRONG_TYPE, f"op must be \"rate\" or \"remove\", got {type(op).__name__}")
    if op not in ("rate", "remove"):
        return Invalid(Reason.INVALID_OP, f"op must be \"rate\" or \"remove\", got {op[:32]!r}")
    if op == "remove" and "rating" in payload:
        return Invalid(Reason.INVALID_OP, "a removal (op \"remove\") carries no rating")
    return op == "remove"


def json_object(value: bytes | None, required: tuple[str, ...] = ()) -> dict[str, object] | Invalid:
    """A message's value as a JSON object with the ``required`` fields (every topic's
    first rule), or why not."""
    if value is None:
        return Invalid(Reason.INVALID_JSON, "the message has no value")
    payload = load_json(value, max_bytes=MAX_MESSAGE_BYTES)
    if isinstance(payload, Unreadable):
        return Invalid(Reason(payload.problem.value), payload.detail)
    if not isinstance(payload, dict):
        return Invalid(Reason.NOT_AN_OBJECT, f"expected a JSON object, got {type(payload).__name__}")
    missing = [field for field in required if field not in payload]
    if missing:
        return Invalid(Reason.MISSING_FIELD, f"missing: {', '.join(missing)}")
    return payload


def event_time(payload: dict[str, object], field: str, origin: Origin,
               window: TimeWindow) -> datetime | Invalid:
    """The time ``field`` of a hide or an impression (the message's own when omitted),
    within ``window``; ``invalid_at`` otherwise."""
    parsed = _parse_time(payload.get(field), origin)
    if isinstance(parsed, Invalid):
        if field not in payload:
            return Invalid(Reason.INVALID_AT, parsed.detail)
        return Invalid(Reason.INVALID_AT,
                       f"{field} must be an ISO 8601 time or epoch seconds, got " + repr(payload[field])[:64])
    refused = window.refuses(parsed, datetime.now(UTC))
    if refused is not None:
        return Invalid(Reason.INVALID_AT, field + refused.removeprefix("rated_at"))
    return parsed


def wrong_key(key: bytes | None, user_id: int) -> Invalid | None:
    """Why ``key`` is not the message's user id as a string (None: it is)."""
    if key is None:
        return Invalid(Reason.WRONG_KEY, f"the message has no key; it must be the user id {user_id}")
    if key != str(user_id).encode():
        return Invalid(Reason.WRONG_KEY, f"key must be the user id {user_id} as a string, got {key[:32]!r}")
    return None


def parse_rating(
    key: bytes | None, value: bytes | None, origin: Origin, window: TimeWindow = DEFAULT_WINDOW
) -> RatingEvent | RatingRemoved | Invalid:
    """Validate one raw message of the ``ratings`` topic, a rating or a removal (not
    whether the movie exists)."""
    payload = json_object(value)
    if isinstance(payload, Invalid):
        return payload
    removal = _removal(payload)
    if isinstance(removal, Invalid):
        return removal
    required = ("user_id", "movie_id") if removal else ("user_id", "movie_id", "rating")
    missing = [field for field in required if field not in payload]
    if missing:
        return Invalid(Reason.MISSING_FIELD, f"missing: {', '.join(missing)}")
    user_id, movie_id = _positive_id(payload, "user_id"), _positive_id(payload, "movie_id")
    rating = None if removal else _rating(payload)
    event_id, rated_at = _event_id(payload, origin), _rated_at(payload, origin, window)
    for part in (user_id, movie_id, rating, event_id, rated_at):
        if isinstance(part, Invalid):
            return part
    assert isinstance(user_id, int) and isinstance(movie_id, int)
    assert isinstance(event_id, str) and isinstance(rated_at, datetime)
    refused_key = wrong_key(key, user_id)
    if refused_key is not None:
        return refused_key
    if rating is None:
        return RatingRemoved(event_id=event_id, user_id=user_id, movie_id=movie_id, rated_at=rated_at)
    assert isinstance(rating, float)
    return RatingEvent(
        event_id=event_id, user_id=user_id, movie_id=movie_id, rating=rating, rated_at=rated_at
    )


def encode_rating(event: RatingEvent) -> tuple[bytes, bytes]:
    """Key and value of a rating as producers publish it."""
    value = {
        "event_id": event.event_id,
        "user_id": event.user_id,
        "movie_id": event.movie_id,
        "rating": event.rating,
        "rated_at": event.rated_at.isoformat(),
    }
    return str(event.user_id).encode(), json.dumps(value, separators=(",", ":")).encode()


def encode_removal(event: RatingRemoved) -> tuple[bytes, bytes]:
    """Key and value of a rating's removal as producers publish it (on ``ratings``)."""
    value = {
        "op": "remove",
        "event_id": event.event_id,
        "user_id": event.user_id,
        "movie_id": event.movie_id,
        "rated_at": event.rated_at.isoformat(),
    }
    return str(event.user_id).encode(), json.dumps(value, separators=(",", ":")).encode()
