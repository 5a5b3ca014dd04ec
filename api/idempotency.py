"""Idempotent writes: a client that retries a rating, removal or hide stores it once.

An event's id is what the worker dedupes by (a redelivered or replayed event is dropped
by its id), so a retry stores once exactly when it carries the first attempt's id. A
client gets that in one of two ways:

- ``event_id`` in the body: a UUID of its own, used as the event's id;
- an ``Idempotency-Key`` header: any key of up to 200 printable ASCII characters; the
  event's id is derived from it and from the request (kind, user, movie, rating), so
  the same key on a different request is a different event.

Without either, each request is a new event with a fresh id.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping

from api.errors import ApiError

HEADER = "idempotency-key"
FIELD = "event_id"
MAX_KEY_CHARS = 200
KEY_PATTERN = r"^[!-~]([ -~]*[!-~])?$"  # printable ASCII, no space at either end
_KEY = re.compile(KEY_PATTERN)
# Fixed for ever: a key must name the same event id across versions of the API.
NAMESPACE = uuid.UUID("6f1f3c52-8d0e-4d35-9a57-2f3f0f8a1c11")


def body_event_id(payload: Mapping[str, object], errors: dict[str, str]) -> str | None:
    """The body's ``event_id`` in canonical form, if given; a bad one joins ``errors``."""
    if FIELD not in payload:
        return None
    value = payload[FIELD]
    try:
        if not isinstance(value, str) or len(value) > 64:
            raise ValueError
        return str(uuid.UUID(value))
    except ValueError:
        errors[FIELD] = "must be a UUID such as 3f2b8c1e-5d4a-4b7e-9c61-0a2d4e6f8b90"
        return None


def event_id(headers: Mapping[str, str], given: str | None, request_identity: str) -> str:
    """The id of the event a request publishes: the body's ``given`` id, else the one
    its ``Idempotency-Key`` names for ``request_identity``, else a fresh one. A bad key
    is a 400, with or without ``given``."""
    key = headers.get(HEADER)
    if key is not None and (len(key) > MAX_KEY_CHARS or not _KEY.fullmatch(key)):
        raise ApiError(400, "invalid_idempotency_key",
                       f"the Idempotency-Key header must be 1 to {MAX_KEY_CHARS} printable ASCII "
                       "characters", hint="send a UUID or another unique key per intended write")
    if given is not None:
        return given
    if key is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(NAMESPACE, f"{request_identity}\x1f{key}"))
