"""Validation is total: whatever the bytes, a rating or a reason, never an exception."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from schemas.ratings import Invalid, Origin, Reason, is_valid_rating, parse_rating
from schemas.wire import MAX_DEPTH, TimeWindow, nesting_depth

ORIGIN = Origin("streamrec.ratings", 3, 1234, 1_700_000_000_000)


def _event(**fields: object) -> bytes:
    return json.dumps({"user_id": 7, "movie_id": 1, "rating": 4, **fields}).encode()


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"[" * 5000, Reason.TOO_DEEP),
        (b'{"a":' * 1500, Reason.TOO_DEEP),
        (b'{"user_id": 7, "movie_id": 1, "rating": 4, "x": ' + b"[" * 40 + b"]" * 40 + b"}", Reason.TOO_DEEP),
        (b'{"user_id": 7, "movie_id": 1, "rating": 1' + b"0" * 400 + b"}", Reason.NUMBER_TOO_LARGE),
        (b'{"user_id": 1' + b"0" * 30 + b', "movie_id": 1, "rating": 4}', Reason.NUMBER_TOO_LARGE),
        (b'{"user_id": 7, "movie_id": 1, "rating": 1e400}', Reason.OUT_OF_RANGE),
        (b'{"user_id": 7, "movie_id": 1, "rating": NaN}', Reason.OUT_OF_RANGE),
        (b"x" * 900_000, Reason.OVERSIZED),
        (_event(rated_at="0001-01-01T00:00:00+01:00"), Reason.INVALID_RATED_AT),
        (_event(rated_at="9999-12-31T23:30:00-01:00"), Reason.INVALID_RATED_AT),
        (_event(rated_at="9999-12-31T23:59:59Z"), Reason.INVALID_RATED_AT),
        (_event(rated_at="1970-01-01T00:00:00Z"), Reason.INVALID_RATED_AT),
        (_event(rated_at=1e300), Reason.INVALID_RATED_AT),
        (_event(rated_at=-1e18), Reason.INVALID_RATED_AT),
        (_event().decode().encode("utf-16"), Reason.INVALID_JSON),  # JSON is UTF-8 only
        (_event().decode().encode("utf-32-le"), Reason.INVALID_JSON),
        (b"\xef\xbb\xbf" + _event(), Reason.INVALID_JSON),  # a BOM is not JSON either
    ],
)
def test_each_poison_pill_gets_a_reason(value: bytes, reason: Reason) -> None:
    parsed = parse_rating(b"7", value, ORIGIN)
    assert isinstance(parsed, Invalid)
    assert parsed.reason == reason
    assert 0 < len(parsed.detail) <= 300


def test_strings_full_of_brackets_are_not_taken_for_nesting() -> None:
    text = "[" * (MAX_DEPTH * 4)
    assert nesting_depth(json.dumps({"x": text}).encode()) == 1
    assert not isinstance(parse_rating(b"7", _event(note=text), ORIGIN), Invalid)


def test_a_message_time_far_in_the_future_is_refused_when_rated_at_is_omitted() -> None:
    value = b'{"user_id": 7, "movie_id": 1, "rating": 4}'
    for timestamp_ms in (253_402_300_799_000, 2**63 - 1):
        parsed = parse_rating(b"7", value, Origin("t", 0, 1, timestamp_ms))
        assert isinstance(parsed, Invalid) and parsed.reason == Reason.INVALID_RATED_AT


def test_the_window_is_configurable_and_inclusive_of_recent_times() -> None:
    now = datetime.now(UTC)
    window = TimeWindow(earliest=datetime(2020, 1, 1, tzinfo=UTC), ahead=timedelta(hours=1))
    assert not isinstance(parse_rating(b"7", _event(rated_at=now.isoformat()), ORIGIN, window), Invalid)
    later = (now + timedelta(hours=2)).isoformat()
    assert isinstance(parse_rating(b"7", _event(rated_at=later), ORIGIN, window), Invalid)
    assert isinstance(parse_rating(b"7", _event(rated_at="2019-12-31T00:00:00Z"), ORIGIN, window), Invalid)


def test_a_rating_no_float_holds_is_not_valid() -> None:
    assert not is_valid_rating(10**400)


def test_random_bytes_never_raise() -> None:
    rng = random.Random(0)
    alphabet = b'{}[]",:0123456789.eE+-truefalsnl \\x"user_idmovierating'
    for _ in range(3000):
        size = rng.randrange(0, 200)
        value = bytes(rng.choice(alphabet) for _ in range(size))
        parse_rating(b"7", value, ORIGIN)  # returns; any exception fails the test
