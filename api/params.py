"""Strict parsing of query parameters and request bodies (400/413/422 as :class:`ApiError`).

Ids are positive Postgres integers (1 .. 2**31-1) written as plain decimal digits;
``"1.0"``, ``"+1"``, ``" 1"`` or ``"1e3"`` are refused rather than guessed at.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.datastructures import QueryParams
from starlette.requests import Request

from api import idempotency
from api.errors import ApiError
from ml.genres import MAX_GENRE_CHARS
from schemas.ratings import MAX_ID, is_valid_rating
from schemas.wire import Problem, Unreadable, load_json

MAX_BODY_BYTES = 16 * 1024
GENRES_HINT = "GET /api/genres lists the genres (names are case-sensitive, e.g. Sci-Fi)"
RATING_FIELDS = ("user_id", "movie_id", "rating", idempotency.FIELD)
PAIR_FIELDS = ("user_id", "movie_id", idempotency.FIELD)
PAIR_EXAMPLE = '{"user_id": 1, "movie_id": 2}'
_DIGITS = re.compile(r"[0-9]{1,12}")
_DECIMAL = re.compile(r"[0-9]{1,2}(\.[0-9]{1,6})?")


def query_int(params: QueryParams, name: str, *, low: int, high: int, default: int | None = None) -> int:
    """The integer query parameter ``name`` within [low, high]; 400 when missing or bad."""
    values = params.getlist(name)
    if not values:
        if default is not None:
            return default
        raise ApiError(400, "missing_parameter", f"the query parameter {name} is required",
                       hint=f"add ?{name}=<integer between {low} and {high}>", parameter=name)
    if len(values) > 1:
        raise ApiError(400, "invalid_parameter", f"give the query parameter {name} once", parameter=name)
    raw = values[0]
    if not _DIGITS.fullmatch(raw) or not low <= int(raw) <= high:
        shown = raw if len(raw) <= 32 else raw[:32] + "…"
        raise ApiError(400, "invalid_parameter",
                       f"{name} must be an integer between {low} and {high}, got {shown!r}", parameter=name)
    return int(raw)


def genre_param(params: QueryParams) -> str | None:
    """The ``genre`` query parameter (a genre's name, as ``GET /api/genres`` lists them), or
    None; 400 when it is given twice, empty, too long or has control characters. Whether
    any movie has it is the query's answer: see :func:`unknown_genre`."""
    values = params.getlist("genre")
    if not values:
        return None
    if len(values) > 1:
        raise ApiError(400, "invalid_parameter", "give the query parameter genre once", parameter="genre")
    raw = values[0]
    if not raw or len(raw) > MAX_GENRE_CHARS or not raw.isprintable():
        shown = raw if len(raw) <= 32 else raw[:32] + "…"
        raise ApiError(400, "invalid_parameter",
                       f"genre must be a genre's name of 1 to {MAX_GENRE_CHARS} characters, got {shown!r}",
                       hint=GENRES_HINT, parameter="genre")
    return raw


MAX_QUERY_CHARS = 100  # a search's words: longer than any title worth typing


def search_param(params: QueryParams) -> str:
    """The search words ``q``: 1 to MAX_QUERY_CHARS printable characters once trimmed, inner
    runs of spaces made one; 400 when missing, given twice, blank, too long or with
    control characters."""
    values = params.getlist("q")
    if not values:
        raise ApiError(400, "missing_parameter", "the query parameter q is required",
                       hint="add ?q=<words of a title>", parameter="q")
    if len(values) > 1:
        raise ApiError(400, "invalid_parameter", "give the query parameter q once", parameter="q")
    words = " ".join(values[0].split())
    if not words or len(values[0]) > MAX_QUERY_CHARS or not words.isprintable():
        raise ApiError(400, "invalid_parameter",
                       f"q must be 1 to {MAX_QUERY_CHARS} printable characters (words of a title)",
                       parameter="q")
    return words


def unknown_genre(genre: str) -> ApiError:
    return ApiError(400, "unknown_genre", f"no movie has the genre {genre!r}", hint=GENRES_HINT,
                    parameter="genre")


def path_id(request: Request, name: str) -> int:
    """The id in the path parameter ``name`` (1 .. 2**31-1, plain digits); 400 when bad."""
    raw = str(request.path_params.get(name, ""))
    if not _DIGITS.fullmatch(raw) or not 0 < int(raw) <= MAX_ID:
        shown = raw if len(raw) <= 32 else raw[:32] + "…"
        raise ApiError(400, "invalid_parameter",
                       f"{name} must be an integer between 1 and {MAX_ID}, got {shown!r}", parameter=name)
    return int(raw)


def user_id_param(params: QueryParams) -> int:
    return query_int(params, "user_id", low=1, high=MAX_ID)


@dataclass(frozen=True)
class RatingInput:
    user_id: int
    movie_id: int
    rating: float
    event_id: str | None = None  # the client's own, for retries (api.idempotency)


RATING_EXAMPLE = '{"user_id": 1, "movie_id": 2, "rating": 4.5}'


async def read_body(request: Request, example: str = RATING_EXAMPLE,
                    invalid: str = "invalid_rating") -> tuple[dict[str, object], bool]:
    """The body as a dict, and whether it was a form (``x-www-form-urlencoded``, whose
    fields are all text); anything else must be a JSON object (``example``: the hint of
    unreadable JSON; ``invalid``: the code of a JSON value that is not an object)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiError(413, "payload_too_large", f"the body is larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    content_type, _, parameters = request.headers.get("content-type", "").partition(";")
    content_type = content_type.strip().lower()
    charset = _charset(parameters)
    if charset not in (None, "utf-8", "utf8"):
        raise ApiError(415, "unsupported_charset", f"the body's charset {charset[:40]!r} is not UTF-8",
                       hint="send the body as UTF-8 (charset=utf-8, or no charset)")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ApiError(400, "invalid_encoding", "the body is not UTF-8",
                       hint="send JSON or a form encoded as UTF-8") from err
    if content_type == "application/x-www-form-urlencoded":
        return dict(parse_qsl(text, keep_blank_values=True, strict_parsing=False)), True
    if content_type not in ("", "application/json") and not content_type.endswith("+json"):
        raise ApiError(400, "invalid_body", f"unsupported content type {content_type!r}",
                       hint="send application/json or application/x-www-form-urlencoded")
    payload = load_json(body, max_bytes=MAX_BODY_BYTES)
    if isinstance(payload, Unreadable):
        # Nesting and number length are bounded like the ratings topic's (schemas.wire).
        code = "invalid_json" if payload.problem is Problem.INVALID_JSON else str(payload.problem)
        raise ApiError(400, code, f"the body is not JSON streamrec takes: {payload.detail}",
                       hint=f"send {example}")
    if not isinstance(payload, dict):
        raise ApiError(422, invalid, "the body must be a JSON object",
                       fields={"body": f"expected an object, got {type(payload).__name__}"})
    return payload, False


def _charset(parameters: str) -> str | None:
    """The ``charset`` of a Content-Type's parameters (after its ``;``), lower-cased."""
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return None


def _id_field(payload: Mapping[str, object], name: str, errors: dict[str, str], form: bool) -> int:
    if name not in payload:
        errors[name] = "required"
        return 0
    value = payload[name]
    if form and isinstance(value, str) and _DIGITS.fullmatch(value):  # form fields are text
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        errors[name] = f"must be an integer, got {_kind(value)}"
    elif not 0 < value <= MAX_ID:
        errors[name] = f"must be between 1 and {MAX_ID}, got {_short(value)}"
    else:
        return value
    return 0


def _rating_field(payload: Mapping[str, object], errors: dict[str, str], form: bool) -> float:
    if "rating" not in payload:
        errors["rating"] = "required"
        return 0.0
    value = payload["rating"]
    if form and isinstance(value, str) and _DECIMAL.fullmatch(value):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        errors["rating"] = f"must be a number, got {_kind(value)}"
    elif not is_valid_rating(value):
        errors["rating"] = f"must be 0.5 to 5.0 in steps of 0.5, got {_short(value)}"
    else:
        return float(value)
    return 0.0


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 24 else text[:24] + "…"


def _kind(value: object) -> str:
    return "text" if isinstance(value, str) else "null" if value is None else type(value).__name__


def rating_input(payload: Mapping[str, object], *, form: bool = False) -> RatingInput:
    """Validated rating fields; 422 listing every bad field. JSON must carry numbers
    (``"5"`` is refused, as on the ratings topic); a form's text fields are parsed.
    Unknown fields are refused too; ``event_id`` is the client's id for retries."""
    errors: dict[str, str] = {}
    user_id = _id_field(payload, "user_id", errors, form)
    movie_id = _id_field(payload, "movie_id", errors, form)
    rating = _rating_field(payload, errors, form)
    event_id = idempotency.body_event_id(payload, errors)
    for name in sorted(set(payload) - set(RATING_FIELDS))[:10]:
        errors[name[:64]] = "unknown field"
    if errors:
        listed = "; ".join(f"{field}: {problem}" for field, problem in errors.items())
        raise ApiError(422, "invalid_rating", f"the rating is not valid ({listed})", fields=errors)
    return RatingInput(user_id, movie_id, rating, event_id)


@dataclass(frozen=True)
class PairInput:
    """A user and a movie: the body of ``/api/hidden`` and of ``DELETE /api/ratings``."""

    user_id: int
    movie_id: int
    event_id: str | None = None


def pair_input(payload: Mapping[str, object], *, code: str, what: str, form: bool = False) -> PairInput:
    """The user and movie of ``POST``/``DELETE /api/hidden`` or ``DELETE /api/ratings``; 422
    (``code``) listing every bad field, by the rules of :func:`rating_input` (numbers in
    JSON, unknown fields refused)."""
    errors: dict[str, str] = {}
    user_id = _id_field(payload, "user_id", errors, form)
    movie_id = _id_field(payload, "movie_id", errors, form)
    event_id = idempotency.body_event_id(payload, errors)
    for name in sorted(set(payload) - set(PAIR_FIELDS))[:10]:
        errors[name[:64]] = "unknown field"
    if errors:
        listed = "; ".join(f"{field}: {problem}" for field, problem in errors.items())
        raise ApiError(422, code, f"the {what} is not valid ({listed})", fields=errors)
    return PairInput(user_id, movie_id, event_id)
