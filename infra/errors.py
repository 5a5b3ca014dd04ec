"""streamrec's one exception hierarchy.

Every error a person can see says what went wrong and what to do next (``hint``).
``retriable`` tells a caller whether waiting and trying again can help (a broker or
database that is briefly away) or not (bad input, bad configuration).
"""

from __future__ import annotations


class StreamrecError(Exception):
    """Base class. ``str(err)`` is the message; ``err.hint`` what to do about it."""

    retriable: bool = False

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def describe(self) -> str:
        """Message and hint as one text for a terminal."""
        return self.message if not self.hint else f"{self.message}\n  → {self.hint}"


class ConfigError(StreamrecError):
    """A setting or the machine lacks something streamrec needs (Java, a writable dir)."""


class StackError(StreamrecError):
    """The local stack could not be started, checked or stopped."""


class PortInUse(StackError):
    """A port the local stack needs is held by a process streamrec did not start."""


class ServiceNotReady(StackError):
    """A service of the local stack did not become ready in time."""


class ServiceUnavailable(StreamrecError):
    """Kafka or Postgres cannot be reached right now; waiting may help."""

    retriable = True
