"""The dead-letter policy: a bad event goes to ``ratings-dlq`` with its original bytes,
the reason, and where it came from; the agent goes on. Nothing is dropped silently."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import NamedTuple

from schemas.events import DeadLetter
from schemas.ratings import Invalid, Origin


class RawMessage(NamedTuple):
    """A consumed message as bytes (a named tuple: one is made per message)."""

    key: bytes | None
    value: bytes | None
    origin: Origin


def dead_letter(message: RawMessage, invalid: Invalid) -> DeadLetter:
    origin = message.origin
    return DeadLetter(
        reason=str(invalid.reason),
        detail=invalid.detail,
        source_topic=origin.topic,
        source_partition=origin.partition,
        source_offset=origin.offset,
        key_b64=base64.b64encode(message.key).decode() if message.key is not None else None,
        value_b64=base64.b64encode(message.value or b"").decode(),
        failed_at=datetime.now(UTC),
        source_timestamp_ms=origin.timestamp_ms,
    )


def original_bytes(letter: DeadLetter) -> tuple[bytes | None, bytes]:
    """Key and value exactly as the producer sent them (what a replay republishes)."""
    key = base64.b64decode(letter.key_b64) if letter.key_b64 is not None else None
    return key, base64.b64decode(letter.value_b64)
