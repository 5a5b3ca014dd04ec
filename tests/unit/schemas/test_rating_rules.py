"""What the ratings topic accepts (schemas.ratings), without a broker."""

import json
import uuid
from datetime import UTC, datetime

import pytest

from schemas.events import RatingEvent
from schemas.ratings import (
    MAX_MESSAGE_BYTES,
    Invalid,
    Origin,
    Reason,
    encode_rating,
    is_valid_rating,
    parse_rating,
)

ORIGIN = Origin(topic="streamrec.ratings", partition=3, offset=41, timestamp_ms=1_700_000_000_000)


def _parse(value: object, key: bytes | None = b"7") -> RatingEvent | Invalid:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return parse_rating(key, raw, ORIGIN)


def test_a_full_event_is_parsed_as_given() -> None:
    event_id = str(uuid.uuid4())
    parsed = _parse({"event_id": event_id, "user_id": 7, "movie_id": 550, "rating": 4.5,
                     "rated_at": "2026-11-23T10:00:00Z"})
    assert isinstance(parsed, RatingEvent)
    assert (parsed.event_id, parsed.user_id, parsed.movie_id, parsed.rating) == (event_id, 7, 550, 4.5)
    assert parsed.rated_at == datetime(2026, 11, 23, 10, tzinfo=UTC)


def test_omitted_id_and_time_are_derived_from_the_message_deterministically() -> None:
    first = _parse({"user_id": 7, "movie_id": 550, "rating": 3})
    again = _parse({"user_id": 7, "movie_id": 550, "rating": 3})
    elsewhere = parse_rating(b"7", b'{"user_id": 7, "movie_id": 550, "rating": 3}',
                             Origin("streamrec.ratings", 3, 42, 1_700_000_000_000))
    assert isinstance(first, RatingEvent) and isinstance(again, RatingEvent)
    assert isinstance(elsewhere, RatingEvent)
    assert first.event_id == again.event_id != elsewhere.event_id
    assert first.rated_at == datetime.fromtimestamp(1_700_000_000, UTC)
    assert first.rating == 3.0


@pytest.mark.parametrize(
    ("value", "key", "reason"),
    [
        (b"{oops", b"7", Reason.INVALID_JSON),
        (b"\xff\xfe\x00", b"7", Reason.INVALID_JSON),
        ([1, 2], b"7", Reason.NOT_AN_OBJECT),
        ({"user_id": 7, "rating": 4}, b"7", Reason.MISSING_FIELD),
        ({"user_id": "7", "movie_id": 1, "rating": 4}, b"7", Reason.WRONG_TYPE),
        ({"user_id": True, "movie_id": 1, "rating": 4}, b"7", Reason.WRONG_TYPE),
        ({"user_id": 7, "movie_id": 1.5, "rating": 4}, b"7", Reason.WRONG_TYPE),
        ({"user_id": 7, "movie_id": 1, "rating": None}, b"7", Reason.WRONG_TYPE),
        ({"user_id": 7, "movie_id": 0, "rating": 4}, b"7", Reason.OUT_OF_RANGE),
        ({"user_id": 7, "movie_id": 2**31, "rating": 4}, b"7", Reason.OUT_OF_RANGE),
        ({"user_id": 7, "movie_id": 1, "rating": 0}, b"7", Reason.OUT_OF_RANGE),
        ({"user_id": 7, "movie_id": 1, "rating": 4.25}, b"7", Reason.OUT_OF_RANGE),
        ({"user_id": 7, "movie_id": 1, "rating": 4, "event_id": 12}, b"7", Reason.INVALID_EVENT_ID),
        ({"user_id": 7, "movie_id": 1, "rating": 4, "rated_at": "soon"}, b"7", Reason.INVALID_RATED_AT),
        ({"user_id": 7, "movie_id": 1, "rating": 4}, b"8", Reason.WRONG_KEY),
        ({"user_id": 7, "movie_id": 1, "rating": 4}, None, Reason.WRONG_KEY),
        (b'{"user_id": 7, "x": "' + b"a" * MAX_MESSAGE_BYTES + b'"}', b"7", Reason.OVERSIZED),
    ],
)
def test_each_kind_of_bad_event_gets_its_reason(value: object, key: bytes | None, reason: Reason) -> None:
    parsed = _parse(value, key)
    assert isinstance(parsed, Invalid)
    assert parsed.reason == reason
    assert parsed.detail


@pytest.mark.parametrize("value", [0.5, 1, 2.5, 5.0])
def test_half_steps_in_range_are_ratings(value: float) -> None:
    assert is_valid_rating(value)


@pytest.mark.parametrize("value", [0.0, 0.25, 5.5, -1.0, float("nan"), float("inf")])
def test_other_numbers_are_not(value: float) -> None:
    assert not is_valid_rating(value)


def test_encoded_events_parse_back_to_the_same_event() -> None:
    event = RatingEvent(event_id=str(uuid.uuid4()), user_id=12, movie_id=34, rating=2.5,
                        rated_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    key, value = encode_rating(event)
    assert key == b"12"
    assert json.loads(value).keys() == {"event_id", "user_id", "movie_id", "rating", "rated_at"}
    assert parse_rating(key, value, ORIGIN) == event
