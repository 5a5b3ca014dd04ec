"""Bounded request bodies: a deadline for each body and a cap on bodies still arriving.

Headers are bounded by the server (:mod:`api.server`); a body is read by the app, so its
bounds live here, as ASGI middleware around the routes:

- **a deadline**: a body must be complete within ``BODY_GRACE_S`` plus its length at
  ``STREAMREC_API_BODY_MIN_RATE`` bytes a second, and never later than
  ``STREAMREC_API_BODY_TIMEOUT_S`` (a chunked body, of unknown length, gets the latter);
  past it the client gets 408 and the connection is closed;
- **caps** on requests whose body is still arriving: per client address (beyond, 429)
  and in all (beyond, 503), answered without reading the rest of the body, so a flood
  of slow bodies holds a bounded number of connections for a bounded time. Only bodies
  the server does not hold whole yet count (:func:`_already_received`), and a request
  over a cap whose body completes within ``OVER_CAP_GRACE_S`` is still taken: a burst
  of quick requests is not a flood of slow ones.
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
        deadline = time.monotonic() + self.deadline_s(length)
        received, pending = await _already_received(receive)
        if pending is None:  # the whole body is here: nothing to bound or to count
            await self.app(scope, _replaying(received, receive), send)
            return
        client = scope["client"][0] if scope.get("client") else "-"
        refused = self._refusal(client)
        if refused is not None:
            # Over a cap, a body that completes within a moment is still taken (a client
            # writes its headers and its body apart); one that does not is refused.
            more, pending = await _completed_soon(receive, pending)
            if pending is not None:
                pending.cancel()
                await refused.response()(scope, receive, send)
                return
            await self.app(scope, _replaying(received + more, receive), send)
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
            await self.app(scope, _replaying(received, _bounded(receive, pending, deadline, done)), send)
        finally:
            pending.cancel()
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


async def _already_received(receive: Receive) -> tuple[list[Message], asyncio.Task[Message] | None]:
    """The body's messages the server holds already, and the pending read of the next
    one (None: the body is complete). A message the server holds is answered without
    waiting, so one step of the read's task tells whether it is there: this counts what
    has not arrived, not what the app has not read yet (a burst of quick requests is not
    a flood of slow ones)."""
    received: list[Message] = []
    while True:
        read = asyncio.ensure_future(receive())
        await asyncio.sleep(0)  # the read's first step runs before this one resumes
        if not read.done():
            return received, read
        message = read.result()
        received.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            return received, None


OVER_CAP_GRACE_S = 0.25


async def _completed_soon(receive: Receive, pending: asyncio.Task[Message]
                          ) -> tuple[list[Message], asyncio.Task[Message] | None]:
    """The body's further messages if they complete it within ``OVER_CAP_GRACE_S``, and
    the read still pending (None: complete)."""
    received: list[Message] = []
    deadline = time.monotonic() + OVER_CAP_GRACE_S
    read = pending
    while True:
        finished, _ = await asyncio.wait([read], timeout=max(0.0, deadline - time.monotonic()))
        if not finished:
            return received, read
        message = read.result()
        received.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            return received, None
        read = asyncio.ensure_future(receive())


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    """``receive`` that answers ``messages`` first, then as ``receive``."""
    pending = list(reversed(messages))

    async def replaying_receive() -> Message:
        return pending.pop() if pending else await receive()

    return replaying_receive


def _bounded(receive: Receive, pending: asyncio.Task[Message], deadline: float,
             done: Callable[[], None]) -> Callable[[], Awaitable[Message]]:
    """``receive`` (its next message the ``pending`` read) that raises a 408 when the
    body is not complete by ``deadline``, and calls ``done`` once it is (later calls,
    e.g. a wait for a disconnect, are not bounded)."""
    finished = False
    first: asyncio.Task[Message] | None = pending

    async def bounded_receive() -> Message:
        nonlocal finished, first
        if finished:
            return await receive()
        next_message, first = (first if first is not None else receive()), None
        try:
            message = await asyncio.wait_for(next_message, max(0.0, deadline - time.monotonic()))
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
