"""Loaders: every format from fixtures written here, bad lines by file and line."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml.data import load_movies, load_ratings, with_popularity
from ml.errors import DataFormatError, UnknownFormat
from ml.synthetic import SyntheticData, generate
from ml.writers import write_dataset, write_movies

RATING_DTYPES = {
    "user_id": np.dtype("int64"),
    "movie_id": np.dtype("int64"),
    "rating": np.dtype("float64"),
    "rated_at": pd.DatetimeTZDtype("ns", "UTC"),
}


@pytest.fixture(scope="module")
def tiny() -> SyntheticData:
    return generate(n_users=30, n_movies=25, n_ratings=200, seed=11)


@pytest.mark.parametrize(
    ("fmt", "ratings_file", "movies_file"),
    [
        ("ml-100k", "u.data", "u.item"),
        ("ml-1m", "ratings.dat", "movies.dat"),
        ("ml-latest", "ratings.csv", "movies.csv"),
    ],
)
def test_movielens_formats_round_trip(
    tmp_path: Path, fmt: str, ratings_file: str, movies_file: str
) -> None:
    # ml-100k and ml-1m hold whole stars, as the real files.
    tiny = generate(n_users=30, n_movies=25, n_ratings=200, seed=11, half_stars=fmt == "ml-latest")
    paths = write_dataset(tiny.ratings, tiny.movies, tmp_path, fmt)
    assert paths == {"ratings": tmp_path / ratings_file, "movies": tmp_path / movies_file}
    for source in (tmp_path, paths["ratings"]):  # a directory or the file itself
        loaded = load_ratings(source)
        assert loaded.format == fmt and loaded.path == paths["ratings"]
        assert dict(loaded.frame.dtypes) == RATING_DTYPES
        pd.testing.assert_frame_equal(loaded.frame, tiny.ratings.reset_index(drop=True))
    movies = load_movies(tmp_path).frame
    assert movies["id"].tolist() == tiny.movies["id"].tolist()
    assert movies["title"].tolist() == tiny.movies["title"].tolist()
    assert movies["genres"].tolist() == tiny.movies["genres"].tolist()
    assert (movies["overview"] == "").all() and (movies["popularity"] == 0.0).all()


@pytest.mark.parametrize("fmt", ["ml-100k", "ml-1m"])
def test_half_stars_are_not_written_as_a_whole_star_format(
    tmp_path: Path, tiny: SyntheticData, fmt: str
) -> None:
    assert (tiny.ratings["rating"] % 1 != 0).any()
    with pytest.raises(DataFormatError, match="whole stars"):
        write_dataset(tiny.ratings, tiny.movies, tmp_path, fmt)
    assert not list(tmp_path.iterdir())


def test_real_movielens_lines_parse(tmp_path: Path) -> None:
    # Lines shaped exactly like the published files (latin-1 titles, quoted commas).
    (tmp_path / "u.item").write_bytes(
        "1|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
        "2|Misérables, Les (1995)|01-Jan-1995||http://x|0|0|0|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|0\n"
        .encode("latin-1")
    )
    items = load_movies(tmp_path / "u.item").frame
    assert items["title"].tolist() == ["Toy Story (1995)", "Misérables, Les (1995)"]
    assert items["genres"].tolist() == [("Animation", "Children's", "Comedy"), ("Drama",)]
    (tmp_path / "movies.csv").write_text(
        'movieId,title,genres\n1,Toy Story (1995),Animation|Comedy\n'
        '11,"American President, The (1995)",Comedy|Drama|Romance\n'
        "2,Unknown Film (2011),(no genres listed)\n"
    )
    frame = load_movies(tmp_path / "movies.csv").frame
    assert frame["title"].tolist() == [
        "Toy Story (1995)",
        "American President, The (1995)",
        "Unknown Film (2011)",
    ]
    assert frame["genres"].tolist() == [("Animation", "Comedy"), ("Comedy", "Drama", "Romance"), ()]
    (tmp_path / "movies.dat").write_text("1::Toy Story (1995)::Animation|Children's|Comedy\n")
    assert load_movies(tmp_path / "movies.dat").frame["genres"].tolist() == [
        ("Animation", "Children's", "Comedy")
    ]
    (tmp_path / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.5,964981247\n"
    )
    frame = load_ratings(tmp_path / "ratings.csv").frame
    assert frame["rating"].tolist() == [4.0, 4.5]
    assert frame["rated_at"][0] == pd.Timestamp(964982703, unit="s", tz="UTC")


def test_u_genre_names_the_flags_and_unknown_means_none(tmp_path: Path) -> None:
    (tmp_path / "u.genre").write_text("unknown|0\nNoir|1\nSpace|2\n\n")
    (tmp_path / "u.item").write_text("1|A (1990)|||x|0|1|1\n2|B (1991)|||x|1|0|0\n")
    assert load_movies(tmp_path / "u.item").frame["genres"].tolist() == [("Noir", "Space"), ()]


def test_tmdb_movies(tmp_path: Path, tiny: SyntheticData) -> None:
    path = write_movies(tiny.movies, tmp_path, "tmdb")
    loaded = load_movies(tmp_path)
    assert loaded.format == "tmdb" and loaded.path == path
    pd.testing.assert_frame_equal(loaded.frame, tiny.movies.reset_index(drop=True))
    other = tmp_path / "catalogue.csv"
    other.write_text('id,title,overview\n7,"Heat, The",A heist.\n')
    frame = load_movies(other, "tmdb").frame
    assert frame.to_dict("records") == [
        {"id": 7, "title": "Heat, The", "overview": "A heist.", "popularity": 0.0}
    ]


def test_generic_csv_with_iso_times(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(
        "user_id,movie_id,rating,rated_at\n1,2,3.5,2024-01-02T03:04:05Z\n2,2,5,2024-01-03\n"
    )
    loaded = load_ratings(path)
    assert loaded.format == "csv"
    assert loaded.frame["rated_at"].tolist() == [
        pd.Timestamp("2024-01-02T03:04:05Z"),
        pd.Timestamp("2024-01-03", tz="UTC"),
    ]


@pytest.mark.parametrize(
    ("name", "text", "bad_line"),
    [
        ("u.data", "1\t2\t3\t881250949\n1\t3\tfour\t881250949\n2\t2\t5\t881250949\n", 2),
        ("u.data", "1\t2\t3\t881250949\n2\t2\t5\t881250949\n1\t3\t4\n", 3),
        ("ratings.dat", "1::2::3::978300760\n1::2::3::978300760::9\n", 2),
        ("ratings.dat", "1::2::3::978300760\n\n1::x::3::978300760\n", 3),
        ("ratings.csv", "userId,movieId,rating,timestamp\n1,2,3.0,1\n1,2,nan,2\n", 3),
        ("ratings.csv", "userId,movieId,rating,timestamp\n1,2.5,3.0,1\n", 2),
    ],
)
def test_bad_rating_lines_name_file_and_line(
    tmp_path: Path, name: str, text: str, bad_line: int
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(DataFormatError) as err:
        load_ratings(path)
    assert err.value.path == path and err.value.line == bad_line
    assert str(err.value).startswith(f"{path}:{bad_line}: ")
    assert err.value.hint and "skip_bad" in err.value.hint
    skipped = load_ratings(path, skip_bad=True)
    assert skipped.skipped_lines == (bad_line,)
    good_lines = [x for x in text.splitlines()[1 if name.endswith(".csv") else 0 :] if x]
    assert len(skipped.frame) == len(good_lines) - 1


def test_bad_movie_lines_and_headers(tmp_path: Path) -> None:
    path = tmp_path / "movies.dat"
    path.write_text("1::Toy Story (1995)::Animation\n1::Again::Drama\nx::Bad::Drama\n")
    with pytest.raises(DataFormatError, match="already on line 1") as err:
        load_movies(path)
    assert err.value.line == 2
    assert load_movies(path, skip_bad=True).skipped_lines == (2, 3)
    headless = tmp_path / "tmdb.csv"
    headless.write_text("7,Heat\n")
    with pytest.raises(DataFormatError, match="lacks column") as err:
        load_movies(headless)
    assert err.value.line == 1


def test_utf8_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "movies.csv"
    path.write_bytes(b"movieId,title,genres\n1,Ok,Drama\n2,Caf\xe9,Drama\n")
    with pytest.raises(DataFormatError, match="utf-8"):
        load_movies(path)


def test_unknown_format_lists_the_supported_ones(tmp_path: Path) -> None:
    with pytest.raises(UnknownFormat) as err:
        load_ratings(tmp_path / "ratings.parquet")
    assert err.value.hint is not None
    for name in ("ml-100k", "ml-1m", "ml-latest", "csv"):
        assert name in err.value.hint
    with pytest.raises(UnknownFormat):
        load_ratings(tmp_path, "ml-10m")
    with pytest.raises(UnknownFormat, match="no known ratings file"):
        load_ratings(tmp_path)


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="not found"):
        load_ratings(tmp_path / "u.data")


def test_errors_survive_pickling(tmp_path: Path) -> None:
    err = DataFormatError("bad", path=tmp_path / "u.data", line=3)
    again = pickle.loads(pickle.dumps(err))
    assert (type(again), str(again), again.line, again.path) == (
        DataFormatError,
        str(err),
        3,
        err.path,
    )


def test_popularity_is_the_rating_count(tiny: SyntheticData) -> None:
    movies = tiny.movies.assign(popularity=0.0)
    counted = with_popularity(movies, tiny.ratings)
    expected = tiny.ratings["movie_id"].value_counts()
    for movie_id, popularity in zip(counted["id"], counted["popularity"], strict=True):
        assert popularity == expected.get(movie_id, 0)
