"""Reading untrusted JSON bytes, totally: any bytes in, a value or a reason out.

Python's parser raises ``RecursionError`` on deep nesting and happily builds integers of
thousands of digits that later overflow a float; both have crashed consumers before. So
before and while parsing, the bytes are bounded: their size, their nesting depth and
the length of every integer literal; times must fall in a :class:`TimeWindow`. Nothing
here raises on any input.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

MAX_DEPTH = 16  # streamrec's events are flat objects, with one list at most
MAX_INT_DIGITS = 20  # beyond any id, count or epoch; far below Python's 4,300 digit limit


class Problem(StrEnum):
    """Why bytes were not taken as JSON (the codes are also dead-letter reasons)."""

    OVERSIZED = "oversized"
    INVALID_JSON = "invalid_json"
    TOO_DEEP = "too_deep"
    NUMBER_TOO_LARGE = "number_too_large"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"


@dataclass(frozen=True)
class Unreadable:
    problem: Problem
    detail: str


class _NumberTooLarge(ValueError):
    pass


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _NumberTooLarge(f"an integer of {len(text)} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def nesting_depth(data: bytes) -> int:
    """How deep ``[`` and ``{`` nest outside strings (a scan, for suspicious inputs only)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


def load_json(data: bytes, *, max_bytes: int) -> object | Unreadable:
    """The JSON value of ``data``, or why it is not one streamrec takes."""
    if len(data) > max_bytes:
        return Unreadable(Problem.OVERSIZED, f"{len(data)} bytes > {max_bytes}")
    # Counting openers is C-fast; only a message with many of them is scanned exactly.
    if data.count(b"[") + data.count(b"{") > MAX_DEPTH and nesting_depth(data) > MAX_DEPTH:
        return Unreadable(Problem.TOO_DEEP, f"JSON nested deeper than {MAX_DEPTH} levels")
    try:
        # UTF-8 only (RFC 8259 §8.1): json.loads would take UTF-16 and UTF-32 bytes too.
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        return Unreadable(Problem.INVALID_JSON, f"not UTF-8: {err}"[:200])
    try:
        value: object = json.loads(text, parse_int=_bounded_int)
    except _NumberTooLarge as err:
        return Unreadable(Problem.NUMBER_TOO_LARGE, str(err))
    except RecursionError:  # unreachable after the depth check; kept as the last guard
        return Unreadable(Problem.TOO_DEEP, "JSON nested too deeply to parse")
    except ValueError as err:
        return Unreadable(Problem.INVALID_JSON, f"not JSON: {err}"[:200])
    return value


@dataclass(frozen=True)
class TimeWindow:
    """The ``rated_at`` streamrec stores: from ``earliest`` to ``ahead`` past now.

    The latest ``rated_at`` of a (user, movie) wins, so one rating dated far in the
    future would hide every later real one; dates before the first web ratings are
    typing errors. Both bounds are settings (``STREAMREC_RATED_AT_*``).
    """

    earliest: datetime = field(default_factory=lambda: datetime(1995, 1, 1, tzinfo=UTC))
    ahead: timedelta = timedelta(days=1)

    def refuses(self, when: datetime, now: datetime) -> str | None:
        """Why ``when`` is outside the window, or None when it is inside."""
        try:
            if self.earliest <= when <= now + self.ahead:
                return None
        except OverflowError:  # an offset pushing a date past year 1 or 9999
            pass
        return (f"rated_at must be between {self.earliest.date().isoformat()} and "
                f"{self.ahead.total_seconds() / 3600:g} h from now, got {when.isoformat()[:40]}")


DEFAULT_WINDOW = TimeWindow()
