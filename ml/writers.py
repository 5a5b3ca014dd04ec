"""Write ratings and movies frames as MovieLens / TMDB-style files.

Used to turn synthetic data into files for tests, demos and benchmarks; the
loaders in :mod:`ml.data` read every format written here.  Files are written
whole to a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from ml.errors import DataFormatError, UnknownFormat
from ml.genres import ML_100K_GENRES, UNKNOWN, to_list

WRITE_FORMATS = ("ml-100k", "ml-1m", "ml-latest", "tmdb")
# The real ml-100k and ml-1m files hold whole stars 1..5; ml-latest half stars 0.5..5.
WHOLE_STAR_FORMATS = ("ml-100k", "ml-1m")


def whole_stars(format: str) -> bool:
    """Whether ``format``'s ratings are whole stars (generate them with
    ``ml.synthetic.generate(..., half_stars=False)``)."""
    return format in WHOLE_STAR_FORMATS


def _seconds(ratings: pd.DataFrame) -> pd.Series:
    if "rated_at" not in ratings.columns:
        return pd.Series(np.zeros(len(ratings), dtype=np.int64))
    stamps = pd.to_datetime(ratings["rated_at"], utc=True)
    seconds = (stamps - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
    return seconds.fillna(0).astype(np.int64).reset_index(drop=True)


def _join(columns: list[pd.Series], sep: str) -> str:
    if not columns or len(columns[0]) == 0:
        return ""
    line = columns[0].astype(str)
    for column in columns[1:]:
        line = line + sep + column.astype(str)
    return "\n".join(line.tolist()) + "\n"


def _write_text(path: Path, text: str, encoding: str) -> Path:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding=encoding, newline="")
    os.replace(tmp, path)
    return path


def write_ratings(ratings: pd.DataFrame, directory: Path, format: str) -> Path:
    """The ratings file of ``format`` in ``directory``; returns its path."""
    if format not in ("ml-100k", "ml-1m", "ml-latest"):
        raise UnknownFormat(
            f"cannot write ratings as {format!r}",
            hint="use one of ml-100k, ml-1m, ml-latest",
        )
    values = ratings["rating"].to_numpy(np.float64)
    if whole_stars(format):
        _check_whole_stars(values, format)
    directory.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(
        {
            "userId": ratings["user_id"].to_numpy(np.int64),
            "movieId": ratings["movie_id"].to_numpy(np.int64),
            "rating": values,
            "timestamp": _seconds(ratings).to_numpy(),
        }
    )
    # "%g": "4" rather than "4.0", as MovieLens writes whole ratings.
    if format == "ml-latest":
        text = frame.to_csv(index=False, float_format="%g", lineterminator="\n")
        return _write_text(directory / "ratings.csv", text, "utf-8")
    text = frame.to_csv(
        index=False, header=False, sep="\t", float_format="%g", lineterminator="\n"
    )
    if format == "ml-100k":
        return _write_text(directory / "u.data", text, "latin-1")
    return _write_text(directory / "ratings.dat", text.replace("\t", "::"), "latin-1")


def _check_whole_stars(values: npt.NDArray[np.float64], format: str) -> None:
    # A 3.5 in a u.data file would load, but would not be MovieLens-shaped data.
    bad = np.flatnonzero((values != np.round(values)) | (values < 1.0) | (values > 5.0))
    if len(bad):
        raise DataFormatError(
            f"{format} ratings are whole stars 1..5; row {bad[0] + 1} has {values[bad[0]]:g}",
            hint="generate whole stars (half_stars=False) or write ml-latest",
        )


def write_movies(movies: pd.DataFrame, directory: Path, format: str) -> Path:
    """The movies file of ``format`` in ``directory``; returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    ids = movies["id"].reset_index(drop=True)
    titles = movies["title"].reset_index(drop=True).astype(str)
    genres = _genres_of(movies)
    if format == "ml-100k":
        # id|title|release date|video release date|IMDb URL|19 genre flags (u.genre's order)
        flags = pd.Series(["|".join("1" if name in (g or (UNKNOWN,)) else "0" for name in ML_100K_GENRES)
                           for g in genres], dtype=str)
        rest = "01-Jan-1995|||" + flags
        genre_file = "".join(f"{name}|{i}\n" for i, name in enumerate(ML_100K_GENRES)) + "\n"
        _write_text(directory / "u.genre", genre_file, "latin-1")
        return _write_text(directory / "u.item", _join([ids, titles, rest], "|"), "latin-1")
    lists = pd.Series([to_list(g) for g in genres], dtype=str)
    if format == "ml-1m":
        return _write_text(directory / "movies.dat", _join([ids, titles, lists], "::"), "latin-1")
    if format == "ml-latest":
        frame = pd.DataFrame({"movieId": ids, "title": titles, "genres": lists})
        return _write_text(directory / "movies.csv", frame.to_csv(index=False), "utf-8")
    if format == "tmdb":
        frame = pd.DataFrame(
            {
                "id": ids,
                "title": titles,
                "overview": movies["overview"].reset_index(drop=True)
                if "overview" in movies.columns
                else "",
                "popularity": movies["popularity"].reset_index(drop=True)
                if "popularity" in movies.columns
                else 0.0,
            }
        )
        if "genres" in movies.columns:
            frame["genres"] = lists
        return _write_text(directory / "tmdb_movies.csv", frame.to_csv(index=False), "utf-8")
    raise UnknownFormat(
        f"cannot write movies as {format!r}",
        hint=f"use one of {', '.join(WRITE_FORMATS)}",
    )


def _genres_of(movies: pd.DataFrame) -> list[tuple[str, ...]]:
    """Each movie's genres; none when the frame has no ``genres`` column."""
    if "genres" not in movies.columns:
        return [()] * len(movies)
    return [tuple(g) for g in movies["genres"].reset_index(drop=True).tolist()]


def write_dataset(
    ratings: pd.DataFrame, movies: pd.DataFrame, directory: Path, format: str
) -> dict[str, Path]:
    """Both files of a MovieLens data set (``ml-100k``, ``ml-1m`` or ``ml-latest``)."""
    return {
        "ratings": write_ratings(ratings, directory, format),
        "movies": write_movies(movies, directory, format),
    }
