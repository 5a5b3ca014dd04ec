"""The infrastructure's errors: configuration, the local stack, services away.

They derive from :class:`schemas.errors.StreamrecError`, streamrec's one base class.
"""

from __future__ import annotations

from schemas.errors import StreamrecError


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
