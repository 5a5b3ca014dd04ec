"""Reading streamrec's internal topics (``retrain-requests``, ``model-events``,
``prediction-jobs``) as strictly as ``ratings``: any bytes give a record or a reason.

Only streamrec writes these topics, but anything with access to the cluster can, and one
unreadable message used to stall an agent. The agents read them as raw bytes and decode
here; what does not parse is logged with its offset, counted and skipped.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import faust

from schemas.events import ModelPublished, PredictionJob, RetrainRequest
from schemas.wire import Problem, Unreadable, load_json

MAX_INTERNAL_BYTES = 1024 * 1024  # Kafka's default message size
R = TypeVar("R", bound=faust.Record)
Check = Callable[[Any], bool]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_float(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _is_time(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _list_of(check: Check) -> Check:
    return lambda value: isinstance(value, list) and all(check(item) for item in value)


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


# Per record: field -> (check, required).  Extra fields are ignored (newer writers).
FIELDS: dict[type[faust.Record], dict[str, tuple[Check, bool]]] = {
    RetrainRequest: {
        "reason": (_is_str, True), "new_ratings": (_is_int, True), "requested_at": (_is_time, True),
        "request_id": (_is_str, False),
    },
    ModelPublished: {
        "version": (_is_str, True), "rmse": (_is_float, True), "mae": (_is_float, True),
        "n_ratings": (_is_int, True), "activated": (_is_bool, True), "decision": (_is_str, False),
        "request_ids": (_list_of(_is_str), False), "covered": (_is_bool, False),
    },
    PredictionJob: {
        "model_version": (_is_str, True), "user_ids": (_list_of(_is_int), True),
        "job_id": (_is_str, False),
    },
}


def _as_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_internal(record_type: type[R], data: object) -> R | Unreadable:
    """``data`` (a message's value) as a ``record_type``, or why not (never raises)."""
    if not isinstance(data, bytes):
        return Unreadable(Problem.INVALID_JSON, f"the message's value is {type(data).__name__}, not bytes")
    payload = load_json(data, max_bytes=MAX_INTERNAL_BYTES)
    if isinstance(payload, Unreadable):
        return payload
    if not isinstance(payload, dict):
        return Unreadable(Problem.NOT_AN_OBJECT, f"expected a JSON object, got {type(payload).__name__}")
    fields: dict[str, Any] = {}
    for name, (check, required) in FIELDS[record_type].items():
        if name not in payload:
            if required:
                return Unreadable(Problem.MISSING_FIELD, f"missing: {name}")
            continue
        if not check(payload[name]):
            return Unreadable(Problem.WRONG_TYPE, f"{name}: {str(payload[name])[:64]!r} is not valid")
        fields[name] = _as_time(payload[name]) if check is _is_time else payload[name]
    try:
        return record_type(**fields)
    except Exception as err:  # a value the record refuses that no check above foresaw
        return Unreadable(Problem.WRONG_TYPE, f"{type(err).__name__}: {err}"[:200])
