"""streamrec's one exception hierarchy: its base class.

Every error a person can see says what went wrong and what to do next (``hint``).
``retriable`` tells a caller whether waiting and trying again can help (a broker or
database that is briefly away) or not (bad input, bad configuration).

The base lives at the bottom of the import graph, beside the other shapes every layer
shares, so the pure model core (``ml/``) and the records (``schemas/``) can raise
streamrec errors without importing the infrastructure.
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
