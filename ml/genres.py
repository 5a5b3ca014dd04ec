"""MovieLens genre names, and genre lists as the MovieLens files write them.

ml-1m and ml-latest write a movie's genres pipe-separated (``Animation|Comedy``), with
``(no genres listed)`` for none; ml-100k writes one 0/1 flag per genre of ``u.genre``,
whose first genre, ``unknown``, also means none.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

# The MovieLens 100k / 1M genres (ml-latest writes "Children" and adds "IMAX").
GENRES = (
    "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War",
    "Western",
)  # fmt: skip
UNKNOWN = "unknown"  # ml-100k's flag 0: no genre known
ML_100K_GENRES = (UNKNOWN, *GENRES)  # u.genre's order, one flag each in u.item
NO_GENRES = "(no genres listed)"
MAX_GENRE_CHARS = 64

Genres = tuple[str, ...]


def parse_list(text: str) -> Genres:
    """Genres of a ``movies.dat`` / ``movies.csv`` field, or of a TMDB JSON list
    (``[{"id": 28, "name": "Action"}]``); in their order, each once."""
    text = text.strip()
    if text.startswith("["):
        try:
            items = json.loads(text)
        except ValueError:
            items = None
        if isinstance(items, list):
            return _clean(str(item.get("name", "")) if isinstance(item, dict) else str(item)
                          for item in items)
    return _clean(text.split("|"))


def from_flags(flags: Iterable[str], names: tuple[str, ...] = ML_100K_GENRES) -> Genres:
    """Genres of ``u.item``'s 0/1 flags, ``names`` in ``u.genre``'s order."""
    return _clean(name for name, flag in zip(names, flags, strict=False) if flag.strip() == "1")


def read_genre_file(text: str) -> tuple[str, ...]:
    """``u.genre`` (``name|index`` lines) as names in index order."""
    pairs: list[tuple[int, str]] = []
    for line in text.splitlines():
        name, _, index = line.strip().rpartition("|")
        if name and index.isdigit():
            pairs.append((int(index), name))
    return tuple(name for _, name in sorted(pairs))


def to_list(genres: Iterable[str]) -> str:
    """Genres as ``movies.dat`` / ``movies.csv`` write them."""
    return "|".join(genres) or NO_GENRES


def _clean(names: Iterable[str]) -> Genres:
    seen: dict[str, None] = {}
    for name in names:
        name = name.strip()
        if name and name not in (NO_GENRES, UNKNOWN) and len(name) <= MAX_GENRE_CHARS:
            seen.setdefault(name, None)
    return tuple(seen)
