"""Errors of the model core, part of streamrec's one hierarchy (:mod:`schemas.errors`).

``schemas.errors`` is a leaf module without I/O or settings, so importing it keeps
``ml`` pure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from schemas.errors import StreamrecError


def _rebuild(cls: type[ModelError], kwargs: dict[str, Any]) -> ModelError:
    return cls(**kwargs)


class ModelError(StreamrecError):
    """Base class of the model core's errors.

    Picklable with their fields intact, so an error raised in the training process
    reaches the caller as itself (``train_in_process``).
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self._init_kwargs: dict[str, Any] = {"message": message, "hint": hint}

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self._init_kwargs))


class NotEnoughRatings(ModelError):
    """The data set is too small to train and evaluate a model."""

    def __init__(self, got: int, needed: int, *, what: str = "ratings") -> None:
        super().__init__(
            f"not enough {what} to train a model: got {got}, need at least {needed}",
            hint=f"import or generate at least {needed} {what} "
            "(e.g. `streamrec generate`) and try again",
        )
        self._init_kwargs = {"got": got, "needed": needed, "what": what}
        self.got = got
        self.needed = needed


class DataFormatError(ModelError):
    """A ratings or movies file (or frame) does not have the expected shape."""

    def __init__(
        self,
        message: str,
        *,
        path: Path | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(
            where + message,
            hint=hint or "fix or remove the line, or pass skip_bad=True to skip bad lines",
        )
        self._init_kwargs = {"message": message, "path": path, "line": line, "hint": hint}
        self.path = path
        self.line = line


class UnknownFormat(ModelError):
    """A file format name or a file name that streamrec cannot read."""


class ModelIntegrityError(ModelError):
    """A stored model artifact is missing, truncated or altered; nothing was loaded."""

    def __init__(self, message: str, *, path: Path) -> None:
        super().__init__(
            f"{path}: {message}",
            hint="nothing was loaded; keep serving the previous model and retrain "
            "(`streamrec models train`) or activate another version",
        )
        self._init_kwargs = {"message": message, "path": path}
        self.path = path


class InvalidModelVersion(ModelError):
    """A model version name that streamrec did not make (or that is unsafe as a path)."""
