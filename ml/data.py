"""Loaders for MovieLens (ml-100k, ml-1m, ml-latest[-small]) and TMDB-style files.

Each returns a frame with streamrec's columns:

* ratings: ``user_id`` int64, ``movie_id`` int64, ``rating`` float64,
  ``rated_at`` datetime64[ns, UTC] (NaT when the file has no time column);
* movies: ``id`` int64, ``title`` str, ``overview`` str, ``popularity`` float64
  (0.0 unless the file has it; see :func:`with_popularity`), and ``genres`` (a tuple
  of names per movie) when the file has them: u.item's flags (named by u.genre when
  it is next to it), movies.dat / movies.csv's pipe-separated list, a CSV's ``genres``.

Ratings take a fast pandas path; when it fails, a line-by-line pass finds the bad
lines so the error names the file and line (or, with ``skip_bad``, skips them and
lists them in :attr:`Loaded.skipped_lines`).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from ml.errors import DataFormatError, UnknownFormat
from ml.genres import ML_100K_GENRES, Genres, from_flags, parse_list, read_genre_file

FORMATS = ("ml-100k", "ml-1m", "ml-latest", "tmdb", "csv")
Kind = Literal["ratings", "movies"]

RATINGS_COLUMNS = ("user_id", "movie_id", "rating", "rated_at")
MOVIES_COLUMNS = ("id", "title", "overview", "popularity")

# Header names accepted by the headed formats, mapped to streamrec's.
_ALIASES = {
    "userid": "user_id", "user_id": "user_id", "user": "user_id",
    "movieid": "movie_id", "movie_id": "movie_id", "item_id": "movie_id", "item": "movie_id",
    "rating": "rating", "timestamp": "timestamp", "rated_at": "rated_at",
    "id": "id", "title": "title", "overview": "overview", "popularity": "popularity",
    "genres": "genres",
}  # fmt: skip


@dataclass(frozen=True)
class _Spec:
    file_name: str | None  # the file in a data set directory
    sep: str
    header: bool
    encoding: str
    quoted: bool
    fields: tuple[str, ...]  # positional columns when there is no header
    genre_flags: int | None = None  # where u.item's 0/1 genre flags start


_RATINGS: dict[str, _Spec] = {
    "ml-100k": _Spec("u.data", "\t", False, "latin-1", False,
                     ("user_id", "movie_id", "rating", "timestamp")),
    "ml-1m": _Spec("ratings.dat", "::", False, "latin-1", False,
                   ("user_id", "movie_id", "rating", "timestamp")),
    "ml-latest": _Spec("ratings.csv", ",", True, "utf-8", True, ()),
    "csv": _Spec(None, ",", True, "utf-8", True, ()),
}  # fmt: skip
_MOVIES: dict[str, _Spec] = {
    "ml-100k": _Spec("u.item", "|", False, "latin-1", False, ("id", "title"), genre_flags=5),
    "ml-1m": _Spec("movies.dat", "::", False, "latin-1", False, ("id", "title", "genres")),
    "ml-latest": _Spec("movies.csv", ",", True, "utf-8", True, ()),
    "tmdb": _Spec(None, ",", True, "utf-8", True, ()),
    "csv": _Spec(None, ",", True, "utf-8", True, ()),
}  # fmt: skip


@dataclass(frozen=True, eq=False)
class Loaded:
    """A loaded frame, where it came from, and the line numbers skipped as bad."""

    frame: pd.DataFrame
    path: Path
    format: str
    skipped_lines: tuple[int, ...] = ()


def _specs(kind: Kind) -> dict[str, _Spec]:
    return _RATINGS if kind == "ratings" else _MOVIES


def _unknown(what: str, kind: Kind) -> UnknownFormat:
    names = ", ".join(f"{f} ({s.file_name or '*.csv'})" for f, s in _specs(kind).items())
    return UnknownFormat(
        f"{what}: not a known {kind} format",
        hint=f"name one with format=...: auto, {names}",
    )


def detect(path: Path, kind: Kind, format: str = "auto") -> tuple[str, Path]:
    """(format, file) for a file or a data set directory; ``format`` may be given."""
    specs = _specs(kind)
    if format != "auto" and format not in specs:
        raise _unknown(f"format {format!r}", kind)
    if path.is_dir():
        names = [format] if format != "auto" else list(specs)
        for name in names:
            file_name = specs[name].file_name
            if file_name is not None and (path / file_name).is_file():
                return name, path / file_name
        if format == "auto" and kind == "movies":
            tmdb = sorted(path.glob("*tmdb*.csv"))
            if tmdb:
                return "tmdb", tmdb[0]
        raise _unknown(f"{path} (no known {kind} file in this directory)", kind)
    if format != "auto":
        return format, path
    for name, spec in specs.items():
        if spec.file_name is not None and path.name == spec.file_name:
            return name, path
    if path.suffix.lower() == ".csv":
        return ("tmdb" if "tmdb" in path.name.lower() and kind == "movies" else "csv"), path
    raise _unknown(str(path), kind)


def load_ratings(path: Path | str, format: str = "auto", *, skip_bad: bool = False) -> Loaded:
    """Ratings from a file or data set directory (``format``: auto or one of FORMATS)."""
    fmt, file = detect(Path(path), "ratings", format)
    spec = _RATINGS[fmt]
    if not file.is_file():
        raise DataFormatError("file not found", path=file, hint="check the path")
    frame = _ratings_fast(file, spec)
    if frame is not None:
        return Loaded(frame, file, fmt)
    frame, skipped = _ratings_by_line(file, spec, skip_bad)
    return Loaded(frame, file, fmt, skipped)


def load_movies(path: Path | str, format: str = "auto", *, skip_bad: bool = False) -> Loaded:
    """Movies from a file or data set directory (``format``: auto or one of FORMATS)."""
    fmt, file = detect(Path(path), "movies", format)
    if not file.is_file():
        raise DataFormatError("file not found", path=file, hint="check the path")
    spec = _MOVIES[fmt]
    names: tuple[str, ...] = ML_100K_GENRES
    if spec.genre_flags is not None and (file.parent / "u.genre").is_file():
        names = read_genre_file((file.parent / "u.genre").read_text(encoding=spec.encoding)) or names
    frame, skipped = _movies_by_line(file, spec, skip_bad, names)
    return Loaded(frame, file, fmt, skipped)


def with_popularity(movies: pd.DataFrame, ratings: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``movies`` whose popularity is its number of ratings."""
    counts = ratings["movie_id"].value_counts()
    out = movies.copy()
    out["popularity"] = out["id"].map(counts).fillna(0).to_numpy(dtype=np.float64)
    return out


# --- ratings -------------------------------------------------------------------------


def _to_utc(seconds: pd.Series | np.ndarray) -> pd.Series:
    return pd.Series(pd.to_datetime(seconds, unit="s", utc=True)).astype("datetime64[ns, UTC]")


def _ratings_frame(
    users: np.ndarray, movies: np.ndarray, ratings: np.ndarray, rated_at: pd.Series
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": users.astype(np.int64),
            "movie_id": movies.astype(np.int64),
            "rating": ratings.astype(np.float64),
            "rated_at": rated_at.reset_index(drop=True).astype("datetime64[ns, UTC]"),
        }
    )


def _ratings_fast(file: Path, spec: _Spec) -> pd.DataFrame | None:
    """The whole file through pandas' C parser; None when anything looks wrong."""
    try:
        if spec.sep == "::":  # multi-character separators need pandas' slow python engine
            source: Path | io.StringIO = io.StringIO(
                file.read_text(encoding=spec.encoding).replace("::", "\t")
            )
            sep = "\t"
        else:
            source, sep = file, spec.sep
        raw = pd.read_csv(
            source,
            sep=sep,
            header=0 if spec.header else None,
            names=None if spec.header else list(spec.fields),
            encoding=spec.encoding,
            engine="c",
        )
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError):
        return None
    columns = _header_map([str(c) for c in raw.columns]) if spec.header else list(spec.fields)
    if columns is None or len(columns) != len(raw.columns):
        return None
    raw.columns = pd.Index(columns)
    # The parser infers int64 / float64 columns; any other dtype means a bad value
    # (text, an empty field, a missing column) somewhere: let the line pass find it.
    users = raw["user_id"].to_numpy()
    movies = raw["movie_id"].to_numpy()
    values = raw["rating"].to_numpy()
    # uint64 holds ids past int64 that the cast below would wrap: the line pass names them.
    if not all(np.issubdtype(a.dtype, np.signedinteger) for a in (users, movies)):
        return None
    if not (np.issubdtype(values.dtype, np.number) and np.isfinite(values).all()):
        return None
    try:
        if "timestamp" in raw.columns:
            seconds = raw["timestamp"].to_numpy()
            if not np.issubdtype(seconds.dtype, np.integer):
                return None
            rated_at = _to_utc(seconds)
        elif "rated_at" in raw.columns:
            rated_at = pd.Series(pd.to_datetime(raw["rated_at"], utc=True, format="ISO8601"))
        else:
            rated_at = pd.Series(pd.NaT, index=range(len(raw)), dtype="datetime64[ns, UTC]")
    except (ValueError, TypeError, OverflowError):
        return None
    return _ratings_frame(users, movies, values, rated_at)


def _header_map(header: list[str]) -> list[str] | None:
    """Streamrec names for a ratings header; None when a required column is missing."""
    names = [_ALIASES.get(h.strip().lower(), h.strip()) for h in header]
    if not {"user_id", "movie_id", "rating"} <= set(names):
        return None
    return names


def _rows(file: Path, spec: _Spec, skip_bad: bool) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of each non-blank line; the header comes first if any."""
    errors = "replace" if skip_bad else "strict"
    with file.open(encoding=spec.encoding, errors=errors, newline="") as handle:
        lines: Iterator[str] = handle
        sep = spec.sep
        if sep == "::":
            lines = (line.replace("::", "\x1f") for line in handle)
            sep = "\x1f"
        reader = csv.reader(
            lines, delimiter=sep, quoting=csv.QUOTE_MINIMAL if spec.quoted else csv.QUOTE_NONE
        )
        try:
            for fields in reader:
                if fields and any(f.strip() for f in fields):
                    yield reader.line_num, fields
        except UnicodeDecodeError as err:
            raise DataFormatError(
                f"not valid {spec.encoding} text after line {reader.line_num} ({err.reason})",
                path=file,
                line=reader.line_num + 1,
                hint=f"save the file as {spec.encoding}, or pass skip_bad=True",
            ) from err
        except csv.Error as err:
            raise DataFormatError(str(err), path=file, line=reader.line_num) from err


def _columns_of(
    file: Path, spec: _Spec, rows: Iterator[tuple[int, list[str]]], required: set[str]
) -> list[str]:
    if not spec.header:
        return list(spec.fields)
    first = next(rows, None)
    if first is None:
        return sorted(required)  # empty file: an empty frame
    names = [_ALIASES.get(h.strip().lower(), h.strip()) for h in first[1]]
    if "id" in required and "id" not in names:  # movies.csv names it movieId
        names = ["id" if n == "movie_id" else n for n in names]
    if not required <= set(names):
        raise DataFormatError(
            f"header {first[1]} lacks column(s) {sorted(required - set(names))}",
            path=file,
            line=first[0],
            hint=f"the first line must name the columns, with at least {sorted(required)}",
        )
    return names


def _ratings_by_line(
    file: Path, spec: _Spec, skip_bad: bool
) -> tuple[pd.DataFrame, tuple[int, ...]]:
    rows = _rows(file, spec, skip_bad)
    names = _columns_of(file, spec, rows, {"user_id", "movie_id", "rating"})
    pos = {name: i for i, name in enumerate(names)}
    time_col = "timestamp" if "timestamp" in pos else "rated_at" if "rated_at" in pos else None
    users: list[int] = []
    movies: list[int] = []
    values: list[float] = []
    times: list[pd.Timestamp | None] = []
    skipped: list[int] = []
    for line, fields in rows:
        try:
            if len(fields) != len(names):
                raise ValueError(f"expected {len(names)} fields, found {len(fields)}")
            user = _int64(fields[pos["user_id"]], "user_id")
            movie = _int64(fields[pos["movie_id"]], "movie_id")
            value = float(fields[pos["rating"]])
            if not math.isfinite(value):
                raise ValueError(f"rating {fields[pos['rating']]!r} is not a number")
            when = _line_time(fields[pos[time_col]], time_col) if time_col else None
        except (ValueError, OverflowError) as err:
            if not skip_bad:
                raise DataFormatError(
                    f"bad ratings line {fields!r}: {err}", path=file, line=line
                ) from err
            skipped.append(line)
            continue
        users.append(user)
        movies.append(movie)
        values.append(value)
        times.append(when)
    frame = _ratings_frame(
        np.array(users, dtype=np.int64),
        np.array(movies, dtype=np.int64),
        np.array(values, dtype=np.float64),
        pd.Series(times, dtype="datetime64[ns, UTC]"),
    )
    return frame, tuple(skipped)


_INT64 = np.iinfo(np.int64)


def _int64(text: str, column: str) -> int:
    value = int(text)
    if not _INT64.min <= value <= _INT64.max:
        raise ValueError(f"{column} {text[:32]} is out of range")
    return value


def _line_time(text: str, column: str) -> pd.Timestamp:
    try:
        if column == "timestamp":
            when = pd.Timestamp(_int64(text, column), unit="s", tz="UTC")
        else:
            when = pd.Timestamp(text)
        if pd.isna(when):
            raise ValueError(f"rated_at {text!r} is not a time")
        when = when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")
        return when.as_unit("ns")  # the frame's unit: years 1677 .. 2262
    except (pd.errors.OutOfBoundsDatetime, OverflowError) as err:
        raise ValueError(f"{column} {text[:32]!r} is out of range") from err


# --- movies --------------------------------------------------------------------------


def _movies_by_line(
    file: Path, spec: _Spec, skip_bad: bool, flag_names: tuple[str, ...] = ML_100K_GENRES
) -> tuple[pd.DataFrame, tuple[int, ...]]:
    """The movies frame; it has a ``genres`` column (tuples) only when the file names
    genres, so that an import of a file without them keeps the stored ones."""
    rows = _rows(file, spec, skip_bad)
    names = _columns_of(file, spec, rows, {"id", "title"})
    pos = {name: i for i, name in enumerate(names)}
    ids: list[int] = []
    titles: list[str] = []
    overviews: list[str] = []
    popularity: list[float] = []
    genres: list[Genres] = []
    flags_at = spec.genre_flags
    first_seen: dict[int, int] = {}
    skipped: list[int] = []
    for line, fields in rows:
        try:
            if len(fields) < len(names):
                raise ValueError(f"expected {len(names)} fields, found {len(fields)}")
            if spec.header and len(fields) != len(names):
                raise ValueError(f"expected {len(names)} fields, found {len(fields)}")
            movie_id = int(fields[pos["id"]])
            if movie_id in first_seen:
                raise ValueError(f"movie id {movie_id} already on line {first_seen[movie_id]}")
            title = fields[pos["title"]].strip()
            if not title:
                raise ValueError("empty title")
            pop_text = fields[pos["popularity"]].strip() if "popularity" in pos else ""
            pop = float(pop_text) if pop_text else 0.0
            if not math.isfinite(pop):
                raise ValueError(f"popularity {pop_text!r} is not a number")
        except ValueError as err:
            if not skip_bad:
                raise DataFormatError(
                    f"bad movies line {fields!r}: {err}", path=file, line=line
                ) from err
            skipped.append(line)
            continue
        first_seen[movie_id] = line
        ids.append(movie_id)
        titles.append(title)
        overviews.append(fields[pos["overview"]] if "overview" in pos else "")
        popularity.append(pop)
        if flags_at is not None:
            genres.append(from_flags(fields[flags_at:], flag_names))
        elif "genres" in pos:
            genres.append(parse_list(fields[pos["genres"]]))
    frame = pd.DataFrame(
        {
            "id": np.array(ids, dtype=np.int64),
            "title": pd.Series(titles, dtype="str"),
            "overview": pd.Series(overviews, dtype="str"),
            "popularity": np.array(popularity, dtype=np.float64),
        }
    )
    if flags_at is not None or "genres" in pos:
        frame["genres"] = pd.Series(genres, dtype=object)
    return frame, tuple(skipped)
