"""uvicorn's HTTP protocol with the bounds a public server needs.

uvicorn times out idle kept-alive connections but not a client that is slow to send
its headers, and it accepts connections until the process runs out of file
descriptors: thousands of slow sockets held the API's descriptors and made ``/readyz``
fail. This protocol closes a connection whose request headers take longer than
``STREAMREC_API_HEADER_TIMEOUT_S`` and refuses connections beyond
``STREAMREC_API_MAX_CONCURRENCY`` in all or ``STREAMREC_API_MAX_CONNECTIONS_PER_CLIENT``
from one address (closed at once: a flood from one client costs the server an accept
and a close each, not a request); uvicorn's own ``limit_concurrency`` answers 503 to
requests beyond it. ``streamrec api`` names this class as uvicorn's ``http``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import Counter
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from infra.settings import load_settings

log = logging.getLogger("streamrec.api")


@functools.cache
def _bounds() -> tuple[float, int, int]:
    # Read once per process, like the app's own settings (uvicorn imports this class
    # by name in every worker process).
    settings = load_settings()
    return (settings.api_header_timeout_s, settings.api_max_concurrency,
            settings.api_max_connections_per_client)


# Open connections by client address, in this process (one event loop: no lock needed).
_per_client: Counter[str] = Counter()


class BoundedHttpTools(HttpToolsProtocol):
    """httptools' protocol with a header-read timeout and a cap on open connections."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timeout_s, self._max_connections, self._max_per_client = _bounds()
        self._header_timer: asyncio.TimerHandle | None = None
        self._counted_as: str | None = None  # the address this connection counts against

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self._max_connections:
            log.warning("refused a connection: %d open (STREAMREC_API_MAX_CONCURRENCY)",
                        len(self.connections) - 1)
            transport.close()
            return
        address = self.client[0] if self.client else "-"
        if _per_client[address] >= self._max_per_client:
            # The cheapest refusal there is: no request parsed, no answer made.
            log.debug("refused a connection from %s: %d open (STREAMREC_API_MAX_CONNECTIONS_PER_CLIENT)",
                      address, _per_client[address])
            transport.close()
            return
        _per_client[address] += 1
        self._counted_as = address
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
        if self._counted_as is not None:
            _per_client[self._counted_as] -= 1
            if _per_client[self._counted_as] <= 0:
                del _per_client[self._counted_as]
            self._counted_as = None
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
