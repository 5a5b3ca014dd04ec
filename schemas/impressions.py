"""What the ``impressions`` topic accepts: a list as it was shown to a user.

A message is plain JSON keyed by the user id as a string::

    {"event_id", "user_id", "movie_ids": [3, 1, 2], "model_version", "made_by", "source",
     "served_at"}

``movie_ids`` are the shown movies in order (1 to ``MAX_SHOWN`` distinct ids);
``model_version`` is the version that made the list or null; ``made_by`` is ``batch``,
``realtime`` or null; ``source`` is ``model`` or ``popular``. ``event_id`` and
``served_at`` may be omitted and are derived as a rating's are. Validation is total, as
:func:`schemas.ratings.parse_rating`'s: any bytes give an :class:`ImpressionEvent` or an
:class:`Invalid` with a reason, never an exception. Whether the movies exist is not
checked: an impression only ever joins the ratings that follow it.
"""

from __future__ import annotations

import json
from datetime import datetime

from schemas.events import ImpressionEvent
from schemas.ratings import (
    MAX_ID,
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

IMPRESSION_FIELDS = ("user_id", "movie_ids", "source")
MAX_SHOWN = 200  # the longest list a request may ask for (infra.repositories.serving.LIMIT_MAX)
MAX_VERSION_CHARS = 128
SOURCES = ("model", "popular")
MADE_BY = ("batch", "realtime")


def _movie_ids(payload: dict[str, object]) -> list[int] | Invalid:
    value = payload["movie_ids"]
    if not isinstance(value, list):
        return Invalid(Reason.WRONG_TYPE, f"movie_ids must be a list of ids, got {type(value).__name__}")
    if not 0 < len(value) <= MAX_SHOWN:
        return Invalid(Reason.OUT_OF_RANGE, f"movie_ids must hold 1 to {MAX_SHOWN} ids, got {len(value)}")
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int):
            return Invalid(Reason.WRONG_TYPE, f"movie_ids must be integers, got {type(item).__name__}")
        if not 0 < item <= MAX_ID:
            return Invalid(Reason.OUT_OF_RANGE, f"movie ids must be between 1 and {MAX_ID}, got {item}")
    if len(set(value)) != len(value):
        return Invalid(Reason.OUT_OF_RANGE, "movie_ids must not repeat a movie")
    return value


def _choice(payload: dict[str, object], field: str, allowed: tuple[str, ...], *,
            nullable: bool) -> str | Invalid | None:
    value = payload.get(field)
    if value is None and nullable:
        return None
    if value not in allowed:
        choices = " or ".join(f'"{a}"' for a in allowed) + (" or null" if nullable else "")
        return Invalid(Reason.WRONG_TYPE, f"{field} must be {choices}, got {repr(value)[:32]}")
    assert isinstance(value, str)
    return value


def _version(payload: dict[str, object]) -> str | Invalid | None:
    value = payload.get("model_version")
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= MAX_VERSION_CHARS or not value.isprintable():
        return Invalid(Reason.WRONG_TYPE,
                       f"model_version must be a version's name (1 to {MAX_VERSION_CHARS} printable "
                       f"characters) or null, got {repr(value)[:48]}")
    return value


def parse_impression(
    key: bytes | None, value: bytes | None, origin: Origin, window: TimeWindow = DEFAULT_WINDOW
) -> ImpressionEvent | Invalid:
    """Validate one raw message of the ``impressions`` topic."""
    payload = json_object(value, IMPRESSION_FIELDS)
    if isinstance(payload, Invalid):
        return payload
    user_id, movie_ids = _positive_id(payload, "user_id"), _movie_ids(payload)
    source = _choice(payload, "source", SOURCES, nullable=False)
    made_by = _choice(payload, "made_by", MADE_BY, nullable=True)
    version, event_id = _version(payload), _event_id(payload, origin)
    served_at = event_time(payload, "served_at", origin, window)
    for part in (user_id, movie_ids, source, made_by, version, event_id, served_at):
        if isinstance(part, Invalid):
            return part
    assert isinstance(user_id, int) and isinstance(movie_ids, list) and isinstance(source, str)
    assert isinstance(event_id, str) and isinstance(served_at, datetime)
    assert not isinstance(made_by, Invalid) and not isinstance(version, Invalid)
    refused_key = wrong_key(key, user_id)
    if refused_key is not None:
        return refused_key
    return ImpressionEvent(event_id=event_id, user_id=user_id, movie_ids=movie_ids, model_version=version,
                           made_by=made_by, source=source, served_at=served_at)


def encode_impression(event: ImpressionEvent) -> tuple[bytes, bytes]:
    """Key and value of an impression as the API publishes it."""
    value = {
        "event_id": event.event_id, "user_id": event.user_id, "movie_ids": event.movie_ids,
        "model_version": event.model_version, "made_by": event.made_by, "source": event.source,
        "served_at": event.served_at.isoformat(),
    }
    return str(event.user_id).encode(), json.dumps(value, separators=(",", ":")).encode()
