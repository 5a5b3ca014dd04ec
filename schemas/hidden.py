"""What the ``hidden-items`` topic accepts ("not interested"): the ratings topic's rules.

A message is plain JSON ``{"event_id", "user_id", "movie_id", "hidden", "at"}`` keyed by
the user id as a string; ``hidden`` is a JSON boolean (true hides the movie from the
user's suggestions, false undoes it). ``event_id`` and ``at`` may be omitted: they are
derived from the message's topic/partition/offset and timestamp, like a rating's.

Validation is total, as :func:`schemas.ratings.parse_rating`'s: any bytes give a
:class:`HiddenEvent` or an :class:`Invalid` with a reason (the same reasons, plus
``invalid_at``), never an exception. ``at`` must fall in the same :class:`TimeWindow` as
``rated_at``: the latest ``at`` per (user, movie) wins, so a date far ahead would pin a
hide for good.
"""

from __future__ import annotations

import json
from datetime import datetime

from schemas.events import HiddenEvent
from schemas.ratings import (
    Invalid,
    Origin,
    Reason,
    _event_id,
    _positive_id,
    event_time,
    json_object,
    wrong_key,
)
from schemas.wire import DEFAULT_WINDOW, TimeWindow

HIDDEN_FIELDS = ("user_id", "movie_id", "hidden")


def _hidden(payload: dict[str, object]) -> bool | Invalid:
    value = payload["hidden"]
    if not isinstance(value, bool):
        return Invalid(Reason.WRONG_TYPE, f"hidden must be true or false, got {type(value).__name__}")
    return value


def parse_hidden(
    key: bytes | None, value: bytes | None, origin: Origin, window: TimeWindow = DEFAULT_WINDOW
) -> HiddenEvent | Invalid:
    """Validate one raw message of the ``hidden-items`` topic (not whether the movie exists)."""
    payload = json_object(value, HIDDEN_FIELDS)
    if isinstance(payload, Invalid):
        return payload
    user_id, movie_id, hidden = (
        _positive_id(payload, "user_id"), _positive_id(payload, "movie_id"), _hidden(payload)
    )
    event_id, at = _event_id(payload, origin), event_time(payload, "at", origin, window)
    for part in (user_id, movie_id, hidden, event_id, at):
        if isinstance(part, Invalid):
            return part
    assert isinstance(user_id, int) and isinstance(movie_id, int) and isinstance(hidden, bool)
    assert isinstance(event_id, str) and isinstance(at, datetime)
    refused_key = wrong_key(key, user_id)
    if refused_key is not None:
        return refused_key
    return HiddenEvent(event_id=event_id, user_id=user_id, movie_id=movie_id, hidden=hidden, at=at)


def encode_hidden(event: HiddenEvent) -> tuple[bytes, bytes]:
    """Key and value of a hide (or unhide) as producers publish it."""
    value = {
        "event_id": event.event_id,
        "user_id": event.user_id,
        "movie_id": event.movie_id,
        "hidden": event.hidden,
        "at": event.at.isoformat(),
    }
    return str(event.user_id).encode(), json.dumps(value, separators=(",", ":")).encode()
