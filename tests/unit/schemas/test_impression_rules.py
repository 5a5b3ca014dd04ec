"""What the impressions topic accepts (schemas.impressions), and how a served list becomes
an impression (api.impressions), without a broker."""

import json
import os
import random
import uuid
from datetime import UTC, datetime

import pytest

from api.impressions import encode_served
from infra.repositories.serving import Served
from schemas.events import ImpressionEvent
from schemas.impressions import MAX_SHOWN, encode_impression, parse_impression
from schemas.ratings import Invalid, Origin, Reason
from schemas.wire import TimeWindow

ORIGIN = Origin(topic="streamrec.impressions", partition=1, offset=4, timestamp_ms=1_700_000_000_000)
GOOD = {"user_id": 7, "movie_ids": [3, 1, 2], "model_version": "v1", "made_by": "batch", "source": "model",
        "served_at": "2026-01-23T10:00:00Z"}


def _parse(value: object, key: bytes | None = b"7") -> ImpressionEvent | Invalid:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return parse_impression(key, raw, ORIGIN)


def _reason(value: object, key: bytes | None = b"7") -> Reason:
    parsed = _parse(value, key)
    assert isinstance(parsed, Invalid), parsed
    return parsed.reason


def test_a_full_impression_is_parsed_as_given_and_encodes_back() -> None:
    event_id = str(uuid.uuid4())
    parsed = _parse({**GOOD, "event_id": event_id})
    assert isinstance(parsed, ImpressionEvent)
    assert (parsed.event_id, parsed.user_id, parsed.movie_ids, parsed.model_version, parsed.made_by,
            parsed.source) == (event_id, 7, [3, 1, 2], "v1", "batch", "model")
    assert parsed.served_at == datetime(2026, 1, 23, 10, tzinfo=UTC)
    key, value = encode_impression(parsed)
    again = parse_impression(key, value, ORIGIN)
    assert isinstance(again, ImpressionEvent) and again.movie_ids == [3, 1, 2]
    assert again.event_id == event_id and again.served_at == parsed.served_at


def test_popular_lists_and_omitted_fields() -> None:
    parsed = _parse({"user_id": 7, "movie_ids": [5], "source": "popular"})
    assert isinstance(parsed, ImpressionEvent)
    assert parsed.model_version is None and parsed.made_by is None
    assert parsed.event_id == ORIGIN.event_id() and parsed.served_at == ORIGIN.timestamp()


@pytest.mark.parametrize(("change", "reason"), [
    ({"movie_ids": []}, Reason.OUT_OF_RANGE),
    ({"movie_ids": list(range(1, MAX_SHOWN + 2))}, Reason.OUT_OF_RANGE),
    ({"movie_ids": [1, 2, 1]}, Reason.OUT_OF_RANGE),
    ({"movie_ids": [0]}, Reason.OUT_OF_RANGE),
    ({"movie_ids": [2**31]}, Reason.OUT_OF_RANGE),
    ({"movie_ids": ["1"]}, Reason.WRONG_TYPE),
    ({"movie_ids": [True]}, Reason.WRONG_TYPE),
    ({"movie_ids": [1.0]}, Reason.WRONG_TYPE),
    ({"movie_ids": "1,2"}, Reason.WRONG_TYPE),
    ({"movie_ids": {"1": 2}}, Reason.WRONG_TYPE),
    ({"source": "elsewhere"}, Reason.WRONG_TYPE),
    ({"source": None}, Reason.WRONG_TYPE),
    ({"made_by": "hand"}, Reason.WRONG_TYPE),
    ({"model_version": 3}, Reason.WRONG_TYPE),
    ({"model_version": ""}, Reason.WRONG_TYPE),
    ({"model_version": "v\n1"}, Reason.WRONG_TYPE),
    ({"model_version": "v" * 200}, Reason.WRONG_TYPE),
    ({"user_id": "7"}, Reason.WRONG_TYPE),
    ({"user_id": -7}, Reason.OUT_OF_RANGE),
    ({"event_id": "nope"}, Reason.INVALID_EVENT_ID),
    ({"served_at": "yesterday"}, Reason.INVALID_AT),
    ({"served_at": "3000-01-01T00:00:00Z"}, Reason.INVALID_AT),
    ({"served_at": [1]}, Reason.INVALID_AT),
])
def test_each_bad_field_has_its_reason(change: dict[str, object], reason: Reason) -> None:
    assert _reason({**GOOD, **change}) == reason


def test_structure_and_key() -> None:
    assert _reason(b"{") == Reason.INVALID_JSON
    assert _reason([GOOD]) == Reason.NOT_AN_OBJECT
    assert _reason({"user_id": 7, "source": "model"}) == Reason.MISSING_FIELD
    assert _reason(GOOD, key=None) == Reason.WRONG_KEY
    assert _reason(GOOD, key=b"8") == Reason.WRONG_KEY
    assert parse_impression(b"7", None, ORIGIN) == Invalid(Reason.INVALID_JSON, "the message has no value")


def test_any_bytes_give_an_impression_or_a_reason() -> None:
    rng = random.Random(int(os.environ.get("STREAMREC_FUZZ_SEED", "11")))
    good = json.dumps(GOOD).encode()
    for _ in range(3000):
        raw = bytearray(good)
        for _ in range(rng.randint(1, 6)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        parsed = parse_impression(b"7", bytes(raw), ORIGIN)
        assert isinstance(parsed, ImpressionEvent | Invalid)


def _served(items: str, source: str = "model") -> Served:
    return Served(7, source, "v1", items, "realtime" if source == "model" else None)  # type: ignore[arg-type]


def test_a_served_list_becomes_an_impression_of_its_ids_in_order() -> None:
    # Titles and overviews that look like items must not add ids: inside a JSON string
    # every quote is escaped.
    tricky = json.dumps('{"id":99,"title":"x"}')
    items = (f'[{{"id":12,"title":{tricky},"overview":"a","score":4.1}},'
             f'{{"id":5,"title":"B","overview":{tricky},"score":3.0}}]')
    assert [m["id"] for m in json.loads(items)] == [12, 5]
    at = datetime(2026, 1, 1, tzinfo=UTC)
    encoded = encode_served(_served(items), at)
    assert encoded is not None
    impression = parse_impression(*encoded, ORIGIN, TimeWindow(datetime(2020, 1, 1, tzinfo=UTC)))
    assert isinstance(impression, ImpressionEvent), impression
    assert (impression.user_id, impression.movie_ids, impression.model_version, impression.made_by,
            impression.source, impression.served_at) == (7, [12, 5], "v1", "realtime", "model", at)
    popular = encode_served(Served(7, "popular", None, items), at)
    assert popular is not None
    parsed = parse_impression(*popular, ORIGIN, TimeWindow(datetime(2020, 1, 1, tzinfo=UTC)))
    assert isinstance(parsed, ImpressionEvent) and parsed.model_version is None and parsed.made_by is None
    assert encode_served(_served("[]", "popular"), at) is None
