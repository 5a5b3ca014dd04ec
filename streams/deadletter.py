"""The dead-letter policy: a bad event goes to ``ratings-dlq`` with its original bytes,
the reason, and where it came from; the agent goes on. Nothing is dropped silently.

Every letter is bounded, so it always fits the topic: a value or key too large to keep
is kept as a prefix plus its size and sha256 (``truncated``), and the detail is cut to a
few hundred characters.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from typing import NamedTuple

from schemas.events import DeadLetter
from schemas.ratings import Invalid, Origin

# Values and keys up to these sizes are kept whole (base64 makes them a third larger,
# and the letter still fits Kafka's default 1 MB message); of larger ones, a prefix.
KEPT_VALUE_BYTES = 256 * 1024
KEPT_KEY_BYTES = 16 * 1024
PREFIX_BYTES = 1024
MAX_DETAIL_CHARS = 500


class RawMessage(NamedTuple):
    """A consumed message as bytes (a named tuple: one is made per message)."""

    key: bytes | None
    value: bytes | None
    origin: Origin


def letter_key(key: bytes | None) -> bytes | None:
    """The Kafka key of a letter: the original key, cut like the letter's copy of it."""
    return None if key is None else key[:KEPT_KEY_BYTES]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def dead_letter(message: RawMessage, invalid: Invalid) -> DeadLetter:
    """The letter of ``message``: its bytes whole when they fit, else bounded."""
    origin, key, value = message.origin, message.key, message.value or b""
    cut_value = len(value) > KEPT_VALUE_BYTES
    cut_key = key is not None and len(key) > KEPT_KEY_BYTES
    return DeadLetter(
        reason=str(invalid.reason),
        detail=invalid.detail[:MAX_DETAIL_CHARS],
        source_topic=origin.topic,
        source_partition=origin.partition,
        source_offset=origin.offset,
        key_b64=None if key is None else _b64(key[:PREFIX_BYTES] if cut_key else key),
        value_b64=_b64(value[:PREFIX_BYTES] if cut_value else value),
        failed_at=datetime.now(UTC),
        source_timestamp_ms=origin.timestamp_ms,
        truncated=cut_value or cut_key,
        key_size=len(key) if cut_key and key is not None else None,
        value_size=len(value) if cut_value else None,
        value_sha256=hashlib.sha256(value).hexdigest() if cut_value else None,
    )


def original_bytes(letter: DeadLetter) -> tuple[bytes | None, bytes]:
    """Key and value exactly as the producer sent them (what a replay republishes);
    of a ``truncated`` letter, the prefixes kept."""
    key = base64.b64decode(letter.key_b64) if letter.key_b64 is not None else None
    return key, base64.b64decode(letter.value_b64)
