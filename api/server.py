"""uvicorn's HTTP protocol with the bounds a public server needs.

uvicorn times out idle kept-alive connections but not a client that is slow to send
its headers, and it accepts connections until the process runs out of file
descriptors: thousands of slow sockets held the API's descriptors and made ``/readyz``
fail. This protocol closes a connection whose request headers take longer than
``STREAMREC_API_HEADER_TIMEOUT_S`` and refuses connections beyond
``STREAMREC_API_MAX_CONCURRENCY``; uvicorn's own ``limit_concurrency`` answers 503 to
requests beyond it. ``streamrec api`` names this class as uvicorn's ``http``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from infra.settings import load_settings

log = logging.getLogger("streamrec.api")


@functools.cache
def _bounds() -> tuple[float, int]:
    # Read once per process, like the app's own settings (uvicorn imports this class
    # by name in every worker process).
    settings = load_settings()
    return settings.api_header_timeout_s, settings.api_max_concurrency


class BoundedHttpTools(HttpToolsProtocol):
    """httptools' protocol with a header-read timeout and a cap on open connections."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timeout_s, self._max_connections = _bounds()
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self._max_connections:
            log.warning("refused a connection: %d open (STREAMREC_API_MAX_CONCURRENCY)",
                        len(self.connections) - 1)
            transport.close()
            return
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:  # the next request of a kept-alive connection
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._header_timer = self.loop.call_later(self._header_timeout_s, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()
