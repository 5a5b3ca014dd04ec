"""A 503 means "not taken": an event the API could not confirm in time is never applied.

A record cannot be withdrawn from a producer's buffer, and a broker may append one whose
acknowledgement is then late, so "not acknowledged in time" alone does not mean "not
stored". The API therefore stamps each event with a deadline, a header holding the last
moment (epoch ms) the broker may append it, and the topics that take the API's events
stamp records with the broker's own append time (``message.timestamp.type =
LogAppendTime``). Both ends then judge by the same clock, the broker's:

- the API answers 202 only for an acknowledgement whose append time is within the
  deadline; it waits a margin past the deadline for the acknowledgement to travel back,
  and answers 503 otherwise;
- the worker drops (and counts) a record appended after its deadline: it was answered
  503, or nobody waited for it.

What is left is an append within the deadline whose acknowledgement takes longer than
the margin to come back: answered 503, yet stored. A client that retries with an
idempotency key stores such an event once all the same.
"""

from __future__ import annotations

from collections.abc import Sequence

HEADER = "streamrec-publish-by"
LOG_APPEND_TIME = 1  # a record's timestamp type when the broker stamped it
TOPIC_CONFIG = (("message.timestamp.type", "LogAppendTime"),)
MAX_ACK_MARGIN_S = 1.0


def ack_margin_s(timeout_s: float) -> float:
    """How long before the end of a publish's wait its deadline falls: time for the
    acknowledgement to come back (a third of the wait, at most a second)."""
    return min(MAX_ACK_MARGIN_S, timeout_s / 3)


def deadline_ms(now_s: float, timeout_s: float) -> int:
    """The deadline of an event published at ``now_s`` by a caller that waits ``timeout_s``."""
    return round((now_s + timeout_s - ack_margin_s(timeout_s)) * 1000)


def header(publish_by_ms: int) -> tuple[str, bytes]:
    return HEADER, str(publish_by_ms).encode()


def publish_by(headers: Sequence[tuple[str, bytes]] | None) -> int | None:
    """The deadline a record carries, if any (an unreadable one counts as none)."""
    for name, value in headers or ():
        if name == HEADER:
            try:
                return int(value)
            except (TypeError, ValueError):
                return None
    return None


def too_late(publish_by_ms: int | None, timestamp_ms: int | None, timestamp_type: int) -> bool:
    """True for a record the broker appended after its deadline. Without the broker's
    append time (a topic that keeps the producer's time) it cannot be told: False."""
    return (publish_by_ms is not None and timestamp_type == LOG_APPEND_TIME
            and timestamp_ms is not None and timestamp_ms > publish_by_ms)
