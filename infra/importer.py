"""Bulk import of MovieLens / TMDB files and of the synthetic demo set into Postgres.

One transaction per import: a malformed file (named with its line), a rating of a
movie that does not exist, or a refused row leaves the database as it was. Ratings
imported directly get deterministic event ids (uuid5 of source, user, movie and
timestamp), so importing the same file again stores nothing, and producing it to
Kafka (``streamrec produce ratings --file``) gives the same ids.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import numpy as np
import pandas as pd

from infra import db
from infra.demo_data import demo_set, source_name
from infra.errors import ServiceUnavailable
from infra.repositories import imports
from infra.repositories import movies as movies_repo
from infra.repositories.imports import MovieRow, RatingRow
from infra.settings import Settings
from ml.data import Loaded, load_movies, load_ratings
from ml.errors import DataFormatError, UnknownFormat
from schemas.errors import StreamrecError
from schemas.ratings import MAX_ID, RATING_MAX, RATING_MIN
from schemas.wire import DEFAULT_WINDOW, TimeWindow

IMPORT_FORMATS = ("auto", "ml-100k", "ml-1m", "ml-latest", "tmdb", "csv")
# Namespace of the event ids of imported ratings.
IMPORT_NAMESPACE = uuid.UUID("3d9a51c4-8f0e-4b7a-a1c2-6e5f4d3b2a19")
NOTHING_IMPORTED = "fix the file and import again; nothing was imported"
_HEADED = ("ml-latest", "tmdb", "csv")
_RATINGS_FILES = ("u.data", "ratings.dat", "ratings.csv")
_MOVIES_FILES = ("u.item", "movies.dat", "movies.csv")


def rating_event_id(source: str, user_id: int, movie_id: int, micros: int | None) -> uuid.UUID:
    """The event id of a rating read from ``source`` (a file name): stable across runs."""
    if micros is None:
        stamp = "none"
    elif micros % 1_000_000 == 0:
        stamp = str(micros // 1_000_000)
    else:
        stamp = f"{micros // 1_000_000}.{micros % 1_000_000:06d}"
    return uuid.uuid5(IMPORT_NAMESPACE, f"{source}:{user_id}:{movie_id}:{stamp}")


def epoch_micros(rated_at: pd.Series) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Microseconds since the epoch of a UTC datetime column; NaT becomes -1."""
    values = rated_at.to_numpy(dtype="datetime64[us]")
    micros = values.astype(np.int64)
    micros[np.isnat(values)] = -1
    return micros


@dataclass(frozen=True, eq=False)
class Dataset:
    """Frames to import and where they came from (for event ids and error lines)."""

    source: str
    movies: pd.DataFrame | None = None
    ratings: pd.DataFrame | None = None
    movies_file: Path | None = None
    ratings_file: Path | None = None
    movies_format: str = ""
    ratings_format: str = ""
    user_ids: tuple[int, ...] = ()  # users to create even without ratings

    @property
    def movies_have_popularity(self) -> bool:
        """A TMDB file's popularity is kept unless ratings come with it (then they decide)."""
        return self.ratings is None and self.movies_format == "tmdb"


def line_of_row(file: Path, headed: bool, row: int) -> int:
    """The line of a file holding data row ``row`` (0-based; blank lines and the header
    are not rows, as for the loaders)."""
    seen = -1 if headed else 0
    with file.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            if seen == row:
                return number
            seen += 1
    return 0


def _kind_of(file: Path, format: str) -> str:
    name = file.name.lower()
    if name in _RATINGS_FILES:
        return "ratings"
    if name in _MOVIES_FILES or "tmdb" in name or format == "tmdb":
        return "movies"
    if name.endswith(".csv"):
        with file.open(encoding="utf-8", errors="replace") as handle:
            header = handle.readline().lower()
        return "ratings" if "rating" in header else "movies"
    return "movies" if "item" in name or "movie" in name else "ratings"


def _with_hint(err: DataFormatError) -> DataFormatError:
    err.hint = NOTHING_IMPORTED
    return err


def read_dataset(path: Path, format: str = "auto", window: TimeWindow = DEFAULT_WINDOW) -> Dataset:
    """Movies and/or ratings from a data set directory or one file, validated (rating
    times in ``window``, as on the ratings topic)."""
    if format not in IMPORT_FORMATS:
        raise UnknownFormat(f"unknown format {format!r}", hint=f"use one of {', '.join(IMPORT_FORMATS)}")
    if not path.exists():
        raise StreamrecError(f"{path}: no such file or directory", hint="check the path")
    kinds = ("ratings", "movies") if path.is_dir() else (_kind_of(path, format),)
    loaded: dict[str, Loaded] = {}
    try:
        for kind in kinds:
            loader = load_ratings if kind == "ratings" else load_movies
            try:
                loaded[kind] = loader(path, format)
            except UnknownFormat:
                if not path.is_dir():
                    raise
    except DataFormatError as err:
        raise _with_hint(err) from err
    if not loaded:
        raise UnknownFormat(
            f"{path}: found no ratings or movies file",
            hint="expected u.data/u.item (ml-100k), ratings.dat/movies.dat (ml-1m), "
            "ratings.csv/movies.csv (ml-latest) or *tmdb*.csv; or pass --format",
        )
    ratings, movies = loaded.get("ratings"), loaded.get("movies")
    dataset = Dataset(
        source=(ratings or movies or loaded[kinds[0]]).path.name,
        movies=movies.frame if movies is not None else None,
        ratings=ratings.frame if ratings is not None else None,
        movies_file=movies.path if movies is not None else None,
        ratings_file=ratings.path if ratings is not None else None,
        movies_format=movies.format if movies is not None else "",
        ratings_format=ratings.format if ratings is not None else "",
    )
    check(dataset, window)
    return dataset


def synthetic_dataset(users: int, movies: int, ratings: int, seed: int) -> Dataset:
    """The built-in demo set (or another size) as a data set to import."""
    try:
        data = demo_set(users, movies, ratings, seed)
    except ValueError as err:
        raise StreamrecError(f"cannot generate that data set: {err}",
                             hint="use fewer ratings or more users/movies") from err
    return Dataset(
        source=source_name(users, movies, ratings, seed),
        movies=data.movies,
        ratings=data.ratings,
        user_ids=tuple(int(u) for u in data.users["id"]),
    )


def _bad(dataset: Dataset, kind: str, row: int, message: str) -> DataFormatError:
    file = dataset.ratings_file if kind == "ratings" else dataset.movies_file
    if file is None:
        return DataFormatError(f"{kind} row {row + 1}: {message}", hint=NOTHING_IMPORTED)
    fmt = dataset.ratings_format if kind == "ratings" else dataset.movies_format
    return DataFormatError(message, path=file, line=line_of_row(file, fmt in _HEADED, row),
                           hint=NOTHING_IMPORTED)


def check(dataset: Dataset, window: TimeWindow = DEFAULT_WINDOW) -> None:
    """Ids that fit Postgres, ratings on the 0.5..5.0 scale and rating times in
    ``window`` (a rating without a time is allowed), or the first bad line."""
    if dataset.movies is not None:
        ids = dataset.movies["id"].to_numpy(np.int64)
        bad = np.flatnonzero((ids < 1) | (ids > MAX_ID))
        if len(bad):
            raise _bad(dataset, "movies", int(bad[0]), f"movie id {ids[bad[0]]} is not in 1..{MAX_ID}")
    if dataset.ratings is not None:
        frame = dataset.ratings
        for column in ("user_id", "movie_id"):
            ids = frame[column].to_numpy(np.int64)
            bad = np.flatnonzero((ids < 1) | (ids > MAX_ID))
            if len(bad):
                raise _bad(dataset, "ratings", int(bad[0]), f"{column} {ids[bad[0]]} is not in 1..{MAX_ID}")
        values = frame["rating"].to_numpy(np.float64)
        valid = (np.isfinite(values) & (values >= RATING_MIN) & (values <= RATING_MAX)
                 & (values * 2 == np.round(values * 2)))
        bad = np.flatnonzero(~valid)
        if len(bad):
            raise _bad(dataset, "ratings", int(bad[0]),
                       f"rating {values[bad[0]]:g} is not 0.5..5.0 in steps of 0.5")
        rated_at = frame["rated_at"]
        latest = pd.Timestamp(datetime.now(UTC) + window.ahead)
        outside = rated_at.notna() & ((rated_at < pd.Timestamp(window.earliest)) | (rated_at > latest))
        bad = np.flatnonzero(outside.to_numpy())
        if len(bad):
            raise _bad(dataset, "ratings", int(bad[0]),
                       window.refuses(rated_at.iloc[bad[0]].to_pydatetime(), datetime.now(UTC))
                       or "rated_at is out of range")


def movie_rows(frame: pd.DataFrame) -> list[MovieRow]:
    """(id, title, overview, popularity, genres); no genres when the frame has none."""
    genres = ([list(g) for g in frame["genres"].tolist()] if "genres" in frame.columns
              else [[] for _ in range(len(frame))])
    return list(zip(
        frame["id"].to_numpy(np.int64).tolist(),
        frame["title"].astype(str).tolist(),
        frame["overview"].fillna("").astype(str).tolist(),
        frame["popularity"].to_numpy(np.float64).tolist(),
        genres,
        strict=True,
    ))


def rating_rows(frame: pd.DataFrame, source: str) -> list[RatingRow]:
    """(row_no, user, movie, rating, rated_at, event_id); no time means 1970-01-01."""
    users = frame["user_id"].to_numpy(np.int64).tolist()
    movies = frame["movie_id"].to_numpy(np.int64).tolist()
    values = frame["rating"].to_numpy(np.float64).tolist()
    micros = epoch_micros(frame["rated_at"])
    times = pd.DatetimeIndex(np.maximum(micros, 0).astype("datetime64[us]")).tz_localize("UTC")
    stamps = times.to_pydatetime().tolist()
    ids = [
        rating_event_id(source, u, m, t if t >= 0 else None)
        for u, m, t in zip(users, movies, micros.tolist(), strict=True)
    ]
    return list(zip(range(len(users)), users, movies, values, stamps, ids, strict=True))


class ImportProgress(Protocol):
    def start(self, task: str, total: int) -> None: ...
    def advance(self, task: str, rows: int) -> None: ...


class _Silent:
    def start(self, task: str, total: int) -> None:
        pass

    def advance(self, task: str, rows: int) -> None:
        pass


@dataclass(frozen=True)
class ImportResult:
    movies_read: int
    movies_new: int
    movies_updated: int
    users_new: int
    ratings_read: int
    ratings_stored: int
    seconds: float

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


async def import_dataset(
    settings: Settings, dataset: Dataset, progress: ImportProgress | None = None
) -> ImportResult:
    """Everything of ``dataset`` in one transaction (see the module's docstring)."""
    progress = progress or _Silent()
    started = time.monotonic()
    movies = movie_rows(dataset.movies) if dataset.movies is not None else []
    ratings = rating_rows(dataset.ratings, dataset.source) if dataset.ratings is not None else []
    pool = await db.create_pool(settings)
    try:
        async with pool.acquire() as conn, conn.transaction():
            new_movies = updated = new_users = stored = 0
            if dataset.movies is not None:
                progress.start("movies", len(movies))
                new_movies, updated = await imports.merge_movies(
                    conn, movies, with_popularity=dataset.movies_have_popularity,
                    with_genres="genres" in dataset.movies.columns,
                    progress=lambda n: progress.advance("movies", n),
                )
            if dataset.user_ids:
                new_users += await imports.insert_users(conn, dataset.user_ids)
            if dataset.ratings is not None:
                progress.start("ratings", len(ratings))
                await imports.stage_ratings(conn, ratings, lambda n: progress.advance("ratings", n))
                missing = await imports.unknown_movies(conn)
                if missing:
                    movie_id, row = missing[0]
                    others = ", ".join(str(m) for m, _ in missing[1:])
                    raise _bad(dataset, "ratings", row,
                               f"movie {movie_id} does not exist"
                               + (f" (nor do {others}, …)" if others else "")
                               + "; import its movies file first or with it")
                users, stored = await imports.merge_ratings(conn)
                new_users += users
                if stored:
                    await movies_repo.refresh_popularity(conn)
    except asyncpg.UndefinedTableError as err:
        raise StreamrecError(f"the database has no streamrec tables ({err})",
                             hint="apply the schema with `streamrec db migrate`") from err
    except (OSError, asyncpg.InterfaceError, asyncpg.ConnectionDoesNotExistError) as err:
        raise ServiceUnavailable(f"lost Postgres at {db.redact(settings.database_url)}: {err}; "
                                 "nothing was imported", hint=db.UNREACHABLE_HINT) from err
    except asyncpg.PostgresError as err:
        raise StreamrecError(f"Postgres refused the import: {err}",
                             hint=NOTHING_IMPORTED) from err
    finally:
        await pool.close()
    return ImportResult(len(movies), new_movies, updated, new_users, len(ratings), stored,
                        time.monotonic() - started)
