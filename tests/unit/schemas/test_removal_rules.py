"""A rating's removal on the ratings topic (``"op": "remove"``, schemas.ratings), without a
broker: what is a removal, what stays a rating, and the reason of every bad one."""

import json
import os
import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from schemas.events import RatingEvent, RatingRemoved
from schemas.ratings import MAX_MESSAGE_BYTES, Invalid, Origin, Reason, encode_removal, parse_rating

ORIGIN = Origin(topic="streamrec.ratings", partition=3, offset=41, timestamp_ms=1_700_000_000_000)


def _parse(value: object, key: bytes | None = b"7") -> RatingEvent | RatingRemoved | Invalid:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return parse_rating(key, raw, ORIGIN)


def test_a_full_removal_is_parsed_as_given() -> None:
    event_id = str(uuid.uuid4())
    parsed = _parse({"op": "remove", "event_id": event_id, "user_id": 7, "movie_id": 550,
                     "rated_at": "2026-11-23T10:00:00Z"})
    assert isinstance(parsed, RatingRemoved)
    assert (parsed.event_id, parsed.user_id, parsed.movie_id) == (event_id, 7, 550)
    assert parsed.rated_at == datetime(2026, 11, 23, 10, tzinfo=UTC)


def test_omitted_id_and_time_of_a_removal_are_derived_from_the_message() -> None:
    first = _parse({"op": "remove", "user_id": 7, "movie_id": 550})
    again = _parse({"op": "remove", "user_id": 7, "movie_id": 550})
    elsewhere = parse_rating(b"7", b'{"op": "remove", "user_id": 7, "movie_id": 550}',
                             Origin("streamrec.ratings", 3, 42, 1_700_000_000_000))
    assert isinstance(first, RatingRemoved) and isinstance(again, RatingRemoved)
    assert isinstance(elsewhere, RatingRemoved)
    assert first.event_id == again.event_id != elsewhere.event_id
    assert first.rated_at == datetime.fromtimestamp(1_700_000_000, UTC)


def test_without_op_or_with_op_rate_a_message_is_a_rating_as_before() -> None:
    plain = _parse({"user_id": 7, "movie_id": 550, "rating": 4})
    explicit = _parse({"op": "rate", "user_id": 7, "movie_id": 550, "rating": 4})
    assert isinstance(plain, RatingEvent) and isinstance(explicit, RatingEvent)
    assert plain == explicit
    # A rating of null is not a removal: only the explicit marker removes.
    null = _parse({"user_id": 7, "movie_id": 550, "rating": None})
    assert isinstance(null, Invalid) and null.reason is Reason.WRONG_TYPE


_FAR = (datetime.now(UTC) + timedelta(days=30)).isoformat()
_REMOVE = {"op": "remove", "user_id": 7, "movie_id": 1}


@pytest.mark.parametrize(
    ("value", "key", "reason"),
    [
        ({**_REMOVE, "op": "delete"}, b"7", Reason.INVALID_OP),
        ({**_REMOVE, "op": "REMOVE"}, b"7", Reason.INVALID_OP),
        ({**_REMOVE, "op": ""}, b"7", Reason.INVALID_OP),
        ({**_REMOVE, "op": "x" * 5000}, b"7", Reason.INVALID_OP),
        ({**_REMOVE, "rating": 4}, b"7", Reason.INVALID_OP),
        ({**_REMOVE, "rating": None}, b"7", Reason.INVALID_OP),
        ({**_REMOVE, "op": None}, b"7", Reason.WRONG_TYPE),
        ({**_REMOVE, "op": True}, b"7", Reason.WRONG_TYPE),
        ({**_REMOVE, "op": ["remove"]}, b"7", Reason.WRONG_TYPE),
        ({"op": "remove", "user_id": 7}, b"7", Reason.MISSING_FIELD),
        ({"op": "remove", "movie_id": 1}, b"7", Reason.MISSING_FIELD),
        ({"op": "rate", "user_id": 7, "movie_id": 1}, b"7", Reason.MISSING_FIELD),
        ({**_REMOVE, "user_id": "7"}, b"7", Reason.WRONG_TYPE),
        ({**_REMOVE, "movie_id": 1.0}, b"7", Reason.WRONG_TYPE),
        ({**_REMOVE, "movie_id": False}, b"7", Reason.WRONG_TYPE),
        ({**_REMOVE, "movie_id": 0}, b"7", Reason.OUT_OF_RANGE),
        ({**_REMOVE, "user_id": 2**31}, b"7", Reason.OUT_OF_RANGE),
        ({**_REMOVE, "event_id": 5}, b"7", Reason.INVALID_EVENT_ID),
        ({**_REMOVE, "event_id": "nope"}, b"7", Reason.INVALID_EVENT_ID),
        ({**_REMOVE, "rated_at": "yesterday"}, b"7", Reason.INVALID_RATED_AT),
        ({**_REMOVE, "rated_at": "1980-01-01"}, b"7", Reason.INVALID_RATED_AT),
        ({**_REMOVE, "rated_at": _FAR}, b"7", Reason.INVALID_RATED_AT),
        ({**_REMOVE, "rated_at": 1e300}, b"7", Reason.INVALID_RATED_AT),
        (_REMOVE, b"8", Reason.WRONG_KEY),
        (_REMOVE, None, Reason.WRONG_KEY),
        (b'{"op": "remove", "user_id": 1' + b"0" * 30 + b', "movie_id": 1}', b"7", Reason.NUMBER_TOO_LARGE),
        (b'{"op": "remove", "x": "' + b"a" * MAX_MESSAGE_BYTES + b'"}', b"7", Reason.OVERSIZED),
        (b'{"op": "remove", "x": ' + b"[" * 40 + b"]" * 40 + b"}", b"7", Reason.TOO_DEEP),
        (b'{"op": "remove", "user_id": 7', b"7", Reason.INVALID_JSON),
        (b'["remove"]', b"7", Reason.NOT_AN_OBJECT),
    ],
)
def test_each_kind_of_bad_removal_gets_its_reason(value: object, key: bytes | None, reason: Reason) -> None:
    parsed = _parse(value, key)
    assert isinstance(parsed, Invalid), parsed
    assert parsed.reason is reason
    assert parsed.detail and len(parsed.detail) < 300


def test_encoded_removals_parse_back_to_the_same_removal() -> None:
    event = RatingRemoved(event_id=str(uuid.uuid4()), user_id=12, movie_id=34,
                          rated_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    key, value = encode_removal(event)
    assert key == b"12"
    assert json.loads(value) == {"op": "remove", "event_id": event.event_id, "user_id": 12,
                                 "movie_id": 34, "rated_at": "2026-01-02T03:04:05+00:00"}
    assert parse_rating(key, value, ORIGIN) == event


def test_random_removal_like_bytes_never_raise() -> None:
    rng = random.Random(13)
    alphabet = b'{}[]":,0123456789opremovatuser_idmvn '
    for _ in range(2000):
        raw = os.urandom(rng.randrange(0, 64)) if rng.random() < 0.3 else (
            b'{"op": "remove", ' + bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 48))))
        assert isinstance(parse_rating(b"7", raw, ORIGIN), RatingEvent | RatingRemoved | Invalid)
