"""Bounded request bodies: a deadline for each body and a cap on bodies still arriving.

Headers are bounded by the server (:mod:`api.server`); a body is read by the app, so its
bounds live here, as ASGI middleware around the routes:

- **a deadline**: a body must be complete within ``BODY_GRACE_S`` plus its length at
  ``STREAMREC_API_BODY_MIN_RATE`` bytes a second, and never later than
  ``STREAMREC_API_BODY_TIMEOUT_S`` (a chunked body, of unknown length, gets the latter);
  past it the client gets 408 and the connection is closed;
- **caps** on requests whose body is still arriving: per client address (beyond, 429)
  and in all (beyond, 503), answered at once without reading the body, so a flood of
  slow bodies holds a bounded number of connections for a bounded time.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import ApiError
from infra.settings import Settings

BODY_GRACE_S = 2.0
CLOSE = {"Connection": "close"}


def body_length(scope: Scope) -> int | None:
    """The request's declared body length: 0 for none, None for a chunked body."""
    length = 0
    for name, value in scope.get("headers", ()):
        if name == b"transfer-encoding":
            return None
        if name == b"content-length" and value.isdigit():
            length = int(value)
    return length


class BodyBounds:
    """Pure ASGI middleware applying the module's deadline and caps."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self._timeout_s = settings.api_body_timeout_s
        self._min_rate = settings.api_body_min_rate
        self._max_total = settings.api_max_unfinished_bodies
        self._max_per_client = settings.api_max_unfinished_bodies_per_client
        self._arriving: Counter[str] = Counter()  # client address → bodies still arriving

    @property
    def arriving(self) -> int:
        return self._arriving.total()

    def deadline_s(self, length: int | None) -> float:
        if length is None:
            return self._timeout_s
        return min(self._timeout_s, BODY_GRACE_S + length / self._min_rate)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        length = body_length(scope) if scope["type"] == "http" else 0
        if length == 0:
            await self.app(scope, receive, send)
            return
        client = scope["client"][0] if scope.get("client") else "-"
        refused = self._refusal(client)
        if refused is not None:
            await refused.response()(scope, receive, send)
            return
        self._arriving[client] += 1
        arriving = [True]  # until the body's last part (or a disconnect) is received

        def done() -> None:
            if arriving[0]:
                arriving[0] = False
                self._arriving[client] -= 1
                if self._arriving[client] <= 0:
                    del self._arriving[client]

        try:
            await self.app(scope, _bounded(receive, time.monotonic() + self.deadline_s(length), done),
                           send)
        finally:
            done()

    def _refusal(self, client: str) -> ApiError | None:
        if self._arriving[client] >= self._max_per_client:
            return ApiError(429, "too_many_unfinished_bodies",
                            f"this client has {self._max_per_client} requests whose body is still "
                            "arriving", hint="finish sending those bodies first",
                            headers={**CLOSE, "Retry-After": "1"})
        if self.arriving >= self._max_total:
            return ApiError(503, "too_many_unfinished_bodies",
                            "the server is reading as many request bodies as it takes",
                            hint="retry shortly", headers={**CLOSE, "Retry-After": "1"})
        return None


def _bounded(receive: Receive, deadline: float, done: Callable[[], None]) -> Callable[[], Awaitable[Message]]:
    """``receive`` that raises a 408 when the body is not complete by ``deadline``, and
    calls ``done`` once it is (later calls, e.g. a wait for a disconnect, are not bounded)."""
    finished = False

    async def bounded_receive() -> Message:
        nonlocal finished
        if finished:
            return await receive()
        try:
            message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            finished = True
            done()
            raise ApiError(408, "body_too_slow", "the request body did not arrive in time",
                           hint="send the whole body at once", headers=CLOSE) from None
        if message["type"] != "http.request" or not message.get("more_body", False):
            finished = True
            done()
        return message

    return bounded_receive

