"""What the hidden-items topic accepts (schemas.hidden), without a broker."""

import json
import os
import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from schemas.events import HiddenEvent
from schemas.hidden import encode_hidden, parse_hidden
from schemas.ratings import MAX_MESSAGE_BYTES, Invalid, Origin, Reason

ORIGIN = Origin(topic="streamrec.hidden-items", partition=2, offset=9, timestamp_ms=1_700_000_000_000)


def _parse(value: object, key: bytes | None = b"7") -> HiddenEvent | Invalid:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return parse_hidden(key, raw, ORIGIN)


def test_a_full_event_is_parsed_as_given() -> None:
    event_id = str(uuid.uuid4())
    parsed = _parse({"event_id": event_id, "user_id": 7, "movie_id": 550, "hidden": True,
                     "at": "2026-01-23T10:00:00Z"})
    assert isinstance(parsed, HiddenEvent)
    assert (parsed.event_id, parsed.user_id, parsed.movie_id, parsed.hidden) == (event_id, 7, 550, True)
    assert parsed.at == datetime(2026, 1, 23, 10, tzinfo=UTC)


def test_omitted_id_and_time_are_derived_from_the_message_deterministically() -> None:
    first = _parse({"user_id": 7, "movie_id": 550, "hidden": False})
    again = _parse({"user_id": 7, "movie_id": 550, "hidden": False})
    elsewhere = parse_hidden(b"7", b'{"user_id": 7, "movie_id": 550, "hidden": false}',
                             Origin("streamrec.hidden-items", 2, 10, 1_700_000_000_000))
    assert isinstance(first, HiddenEvent) and isinstance(again, HiddenEvent)
    assert isinstance(elsewhere, HiddenEvent)
    assert first.event_id == again.event_id != elsewhere.event_id
    assert first.at == datetime.fromtimestamp(1_700_000_000, UTC)
    assert first.hidden is False


_FAR = (datetime.now(UTC) + timedelta(days=30)).isoformat()


@pytest.mark.parametrize(
    ("value", "key", "reason"),
    [
        (b"{oops", b"7", Reason.INVALID_JSON),
        (b"\xff\xfe\x00", b"7", Reason.INVALID_JSON),
        (b"x" * (MAX_MESSAGE_BYTES + 1), b"7", Reason.OVERSIZED),
        (b"[" * 40 + b"]" * 40, b"7", Reason.TOO_DEEP),
        (b'{"user_id": 1' + b"0" * 30 + b', "movie_id": 1, "hidden": true}', b"7", Reason.NUMBER_TOO_LARGE),
        ([1, 2], b"7", Reason.NOT_AN_OBJECT),
        ({"user_id": 7, "movie_id": 1}, b"7", Reason.MISSING_FIELD),
        ({"movie_id": 1, "hidden": True}, b"7", Reason.MISSING_FIELD),
        ({"user_id": "7", "movie_id": 1, "hidden": True}, b"7", Reason.WRONG_TYPE),
        ({"user_id": 7, "movie_id": True, "hidden": True}, b"7", Reason.WRONG_TYPE),
        ({"user_id": 7, "movie_id": 1, "hidden": 1}, b"7", Reason.WRONG_TYPE),
        ({"user_id": 7, "movie_id": 1, "hidden": "true"}, b"7", Reason.WRONG_TYPE),
        ({"user_id": 7, "movie_id": 1, "hidden": None}, b"7", Reason.WRONG_TYPE),
        ({"user_id": 7, "movie_id": 0, "hidden": True}, b"7", Reason.OUT_OF_RANGE),
        ({"user_id": 7, "movie_id": 2**31, "hidden": True}, b"7", Reason.OUT_OF_RANGE),
        ({"user_id": 7, "movie_id": 1, "hidden": True, "event_id": 5}, b"7", Reason.INVALID_EVENT_ID),
        ({"user_id": 7, "movie_id": 1, "hidden": True, "event_id": "nope"}, b"7", Reason.INVALID_EVENT_ID),
        ({"user_id": 7, "movie_id": 1, "hidden": True, "at": "yesterday"}, b"7", Reason.INVALID_AT),
        ({"user_id": 7, "movie_id": 1, "hidden": True, "at": [1]}, b"7", Reason.INVALID_AT),
        ({"user_id": 7, "movie_id": 1, "hidden": True, "at": 1e300}, b"7", Reason.INVALID_AT),
        ({"user_id": 7, "movie_id": 1, "hidden": True, "at": "1980-01-01"}, b"7", Reason.INVALID_AT),
        ({"user_id": 7, "movie_id": 1, "hidden": True, "at": _FAR}, b"7", Reason.INVALID_AT),
        ({"user_id": 7, "movie_id": 1, "hidden": True}, b"8", Reason.WRONG_KEY),
        ({"user_id": 7, "movie_id": 1, "hidden": True}, None, Reason.WRONG_KEY),
    ],
)
def test_each_kind_of_bad_event_gets_its_reason(value: object, key: bytes | None, reason: Reason) -> None:
    parsed = _parse(value, key)
    assert isinstance(parsed, Invalid), parsed
    assert parsed.reason is reason
    assert parsed.detail


def test_a_bad_at_names_the_field() -> None:
    parsed = _parse({"user_id": 7, "movie_id": 1, "hidden": True, "at": _FAR})
    assert isinstance(parsed, Invalid) and parsed.detail.startswith("at must be between")


def test_a_message_without_a_value_is_invalid_json() -> None:
    parsed = parse_hidden(b"7", None, ORIGIN)
    assert isinstance(parsed, Invalid) and parsed.reason is Reason.INVALID_JSON


def test_encoded_events_parse_back_to_the_same_event() -> None:
    for hidden in (True, False):
        event = HiddenEvent(event_id=str(uuid.uuid4()), user_id=12, movie_id=34, hidden=hidden,
                            at=datetime(2026, 2, 1, 12, 30, tzinfo=UTC))
        key, value = encode_hidden(event)
        assert key == b"12"
        back = parse_hidden(key, value, ORIGIN)
        assert isinstance(back, HiddenEvent)
        assert (back.event_id, back.user_id, back.movie_id, back.hidden, back.at) == (
            event.event_id, 12, 34, hidden, event.at)


def test_random_bytes_never_raise() -> None:
    rng = random.Random(18)
    for _ in range(2000):
        raw = os.urandom(rng.randrange(0, 64)) if rng.random() < 0.5 else bytes(
            rng.choice(b'{}[]":,0123456789truefalsnhid_ ') for _ in range(rng.randrange(0, 64)))
        assert isinstance(parse_hidden(b"7", raw, ORIGIN), HiddenEvent | Invalid)
