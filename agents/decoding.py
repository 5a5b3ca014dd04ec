"""Decoding an internal topic's raw message for an agent: the record, or a logged skip.

Internal topics are read as bytes (:func:`streams.app.declare_topics`), so a message
that is not the record it should be reaches the agent instead of stalling Faust's
decoder; it is logged with its offset, counted, and skipped.
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

import faust

from agents.metrics import WorkerMetrics
from schemas.internal import parse_internal
from schemas.wire import Unreadable

R = TypeVar("R", bound=faust.Record)
log = logging.getLogger(__name__)


def decode(event: Any, record_type: type[R], metrics: WorkerMetrics) -> R | None:
    """The record in ``event`` (a Faust event of a raw topic), or None when unreadable."""
    parsed = parse_internal(record_type, event.value)
    if not isinstance(parsed, Unreadable):
        return parsed
    message = event.message
    log.warning("skipped an unreadable message on %s partition %s offset %s (%s: %s)",
                message.topic, message.partition, message.offset, parsed.problem, parsed.detail)
    metrics.internal_skipped.labels(topic=message.topic, reason=str(parsed.problem)).inc()
    return None
