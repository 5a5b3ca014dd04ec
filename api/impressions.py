"""Every suggestions response (JSON and page) logged as an impression on the
``impressions`` topic, off the request path.

A request only appends what it served to a bounded buffer (no I/O, no JSON parsing);
one task per app publishes the buffer in batches. While Kafka is slow or away the
buffer holds up to ``api_impressions_buffer`` impressions; beyond, new ones are dropped
and counted (``streamrec_api_impressions_dropped``), so logging never slows or fails a
request. An empty list is not an impression.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from api.metrics import Metrics
from infra.errors import ServiceUnavailable
from infra.repositories.serving import Served
from infra.settings import Settings
from streams.publisher import EventPublisher

log = logging.getLogger("streamrec.api")

LINGER_S = 0.05  # gather a batch before publishing it
RETRY_S = 1.0  # after Kafka refused a batch
# Each item's card starts with its id (migration 0004's movie_card); inside a JSON
# string a quote is escaped, so this cannot match a title or an overview.
_ITEM_ID = re.compile(r'\{"id":(\d+),"title":')


@dataclass(frozen=True, slots=True)
class _Shown:
    served: Served
    at: datetime


def encode_served(served: Served, at: datetime) -> tuple[bytes, bytes] | None:
    """Key and value of a served list's impression, as :func:`schemas.impressions.encode_impression`
    writes them (None when the list was empty). Written out directly: this runs for every
    response, and a Faust record costs more than the rest of it."""
    movie_ids = _ITEM_ID.findall(served.suggestions_json)
    if not movie_ids:
        return None
    value = (f'{{"event_id":"{uuid.uuid4()}","user_id":{served.user_id},'
             f'"movie_ids":[{",".join(movie_ids)}],"model_version":{json.dumps(served.model_version)},'
             f'"made_by":{json.dumps(served.made_by)},"source":"{served.source}",'
             f'"served_at":"{at.isoformat()}"}}')
    return str(served.user_id).encode(), value.encode()


class ImpressionLog:
    def __init__(self, settings: Settings, metrics: Metrics,
                 publisher: Callable[[], Awaitable[EventPublisher]]) -> None:
        self._enabled = settings.api_impressions
        self._capacity = settings.api_impressions_buffer
        self._topic = settings.topic("impressions")
        self._metrics = metrics
        self._publisher = publisher
        self._buffer: list[_Shown] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def record(self, served: Served) -> None:
        """Log a served list (a request's only cost: an append)."""
        if not self._enabled:
            return
        if len(self._buffer) >= self._capacity:
            self._metrics.impressions_dropped.inc()
            return
        self._buffer.append(_Shown(served, datetime.now(UTC)))
        self._wake.set()

    def start(self) -> None:
        if self._enabled and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="impression-log")

    async def stop(self, flush_within_s: float = 2.0) -> None:
        """Stop the task, publishing what is buffered if Kafka takes it within the bound."""
        if self._task is None:
            return
        task, self._task = self._task, None
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._publish_buffer(), flush_within_s)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(LINGER_S)
            self._wake.clear()
            try:
                await self._publish_buffer()
            except ServiceUnavailable as err:
                log.debug("impressions wait for Kafka: %s", err.message)
                await asyncio.sleep(RETRY_S)
                self._wake.set()
            except Exception:  # logging must never end: the next batch tries again
                log.exception("publishing impressions failed")
                await asyncio.sleep(RETRY_S)
                self._wake.set()

    async def _publish_buffer(self) -> None:
        batch, self._buffer = self._buffer, []
        if not batch:
            return
        try:
            encoded = [encode_served(shown.served, shown.at) for shown in batch]
            records = [record for record in encoded if record is not None]
            publisher = await self._publisher()
            await publisher.send_many(self._topic, records)
        except BaseException:
            # Kept for the next try, the older first, within the buffer's bound.
            kept = (batch + self._buffer)[: self._capacity]
            self._metrics.impressions_dropped.inc(len(batch) + len(self._buffer) - len(kept))
            self._buffer = kept
            raise
        self._metrics.impressions_logged.inc(len(records))
