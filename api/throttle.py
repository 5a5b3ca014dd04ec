"""A throttle on failed sign-ins: an address that failed ``max_failures`` times within
``window_s`` is refused (429 with Retry-After) until its oldest failure leaves the
window, so the admin token cannot be guessed at the rate the server answers.

Memory is bounded: at most ``max_addresses`` addresses are tracked; beyond, the one
whose latest failure is oldest is forgotten first.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque


class FailureThrottle:
    def __init__(self, *, max_failures: int = 5, window_s: float = 60.0,
                 max_addresses: int = 10_000) -> None:
        self._max_failures = max_failures
        self._window_s = window_s
        self._max_addresses = max_addresses
        # address → its failures' times, oldest first; the address failed last is last
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after_s(self, address: str, now: float | None = None) -> int | None:
        """Seconds until ``address`` may try again, or None when it may now."""
        now = time.monotonic() if now is None else now
        failures = self._recent(address, now)
        if failures is None or len(failures) < self._max_failures:
            return None
        return max(1, math.ceil(failures[0] + self._window_s - now))

    def failed(self, address: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        failures = self._recent(address, now) or deque(maxlen=self._max_failures)
        failures.append(now)
        self._failures[address] = failures
        self._failures.move_to_end(address)
        while len(self._failures) > self._max_addresses:
            self._failures.popitem(last=False)

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)

    def _recent(self, address: str, now: float) -> deque[float] | None:
        failures = self._failures.get(address)
        if failures is None:
            return None
        while failures and failures[0] <= now - self._window_s:
            failures.popleft()
        if not failures:
            del self._failures[address]
            return None
        return failures

    def __len__(self) -> int:
        return len(self._failures)
