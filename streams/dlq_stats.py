"""Dead letters by reason over a recent window, read from the dead-letter topic."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

from streams.topic_inspect import Kafka
from streams.topic_tail import load_dead_letter, read_existing

MOST_LETTERS = 50_000  # read at most this many letters per call: the dashboard stays bounded


@dataclass(frozen=True)
class LetterCounts:
    by_reason: dict[str, int]
    total: int
    capped: bool  # more letters exist in the window than were read


async def recent_letters(kafka: Kafka, topic: str, seconds: float = 3600.0) -> LetterCounts:
    """Letters on ``topic`` timestamped in the last ``seconds``, counted by reason
    (``unreadable`` for a message that is not a dead letter)."""
    since_ms = int((time.time() - seconds) * 1000)
    reasons: Counter[str] = Counter()
    read = 0
    async for record in read_existing(kafka, topic, last=None, since_ms=since_ms):
        letter = load_dead_letter(record.value)
        reasons[letter.reason if letter is not None else "unreadable"] += 1
        read += 1
        if read >= MOST_LETTERS:
            return LetterCounts(dict(reasons.most_common()), read, True)
    return LetterCounts(dict(reasons.most_common()), read, False)
