"""`streamrec data import | generate` against a real Postgres database of the test's own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from cli import app as streamrec_app
from ml.data import load_movies, load_ratings
from ml.errors import DataFormatError
from tests.integration.cli.conftest import Cli, free_port

# (user, movie, rating, timestamp): movie 2 is rated twice, movie 3 never.
RATINGS = [(1, 1, 4.0, 964982703), (1, 2, 3.5, 964981247), (2, 2, 5.0, 964982224), (3, 1, 1.0, 964983815)]
MOVIES = [(1, "Toy Story (1995)"), (2, "Jumanji, The (1995)"), (3, "Heat (1995)")]


def _write(directory: Path, fmt: str, ratings: list[tuple[int, int, float, int]] = RATINGS) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    if fmt == "ml-100k":
        (directory / "u.item").write_text("".join(
            f"{i}|{t}|01-Jan-1995||http://example.org/{i}|0|1|0\n" for i, t in MOVIES), encoding="latin-1")
        (directory / "u.data").write_text("".join(f"{u}\t{m}\t{r:g}\t{ts}\n" for u, m, r, ts in ratings))
    elif fmt == "ml-1m":
        (directory / "movies.dat").write_text("".join(f"{i}::{t}::Comedy|Drama\n" for i, t in MOVIES),
                                              encoding="latin-1")
        (directory / "ratings.dat").write_text("".join(f"{u}::{m}::{r:g}::{ts}\n" for u, m, r, ts in ratings))
    else:
        (directory / "movies.csv").write_text("movieId,title,genres\n" + "".join(
            f'{i},"{t}",Adventure|Comedy\n' for i, t in MOVIES))
        (directory / "ratings.csv").write_text("userId,movieId,rating,timestamp\n" + "".join(
            f"{u},{m},{r},{ts}\n" for u, m, r, ts in ratings))
    return directory


def _rows(url: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return list(conn.execute(query).fetchall())


def _snapshot(url: str) -> tuple[list[tuple[Any, ...]], ...]:
    return (
        _rows(url, "SELECT id, title, overview, popularity, created_at, genres FROM movies ORDER BY id"),
        _rows(url, "SELECT id, created_at FROM users ORDER BY id"),
        _rows(url, "SELECT user_id, movie_id, rating, rated_at, event_id, ingested_at FROM ratings "
                   "ORDER BY user_id, movie_id"),
    )


GENRES = {"ml-100k": ["Action"], "ml-1m": ["Comedy", "Drama"], "ml-latest": ["Adventure", "Comedy"]}


@pytest.mark.parametrize("fmt", ["ml-100k", "ml-1m", "ml-latest"])
def test_import_loads_a_movielens_data_set_once(cli: Cli, tmp_path: Path, fmt: str) -> None:
    directory = _write(tmp_path / fmt, fmt)
    url = cli.settings.database_url

    first = cli.json("data", "import", str(directory))
    assert (first["movies_new"], first["users_new"], first["ratings_stored"]) == (3, 3, 4)
    movies, _, ratings = _snapshot(url)
    assert [(m[0], m[1]) for m in movies] == MOVIES
    assert [m[5] for m in movies] == [GENRES[fmt]] * 3
    assert [(r[0], r[1], r[2], int(r[3].timestamp())) for r in ratings] == sorted(RATINGS)
    assert len({r[4] for r in ratings}) == 4
    assert [m[3] for m in movies] == pytest.approx([2 + 2.5 / 10, 2 + 4.25 / 10, 0.0])  # from the ratings

    before = _snapshot(url)
    again = cli.json("data", "import", str(directory), "--format", fmt)
    assert (again["movies_new"], again["movies_updated"], again["users_new"], again["ratings_stored"]) == (
        0, 0, 0, 0)
    assert _snapshot(url) == before  # not a row touched

    human = cli.run("data", "import", str(directory)).stdout
    assert "ratings" in human and "movies" in human

    # A catalogue file without genres renames a movie and keeps the genres stored.
    (tmp_path / "tmdb_extra.csv").write_text('id,title,overview\n3,"Heat, Renamed",A heist.\n')
    cli.json("data", "import", str(tmp_path / "tmdb_extra.csv"))
    assert _rows(url, "SELECT title, genres FROM movies WHERE id = 3") == [("Heat, Renamed", GENRES[fmt])]


def test_files_import_one_at_a_time(cli: Cli, tmp_path: Path) -> None:
    directory = _write(tmp_path / "latest", "ml-latest")
    assert cli.json("data", "import", str(directory / "movies.csv"))["movies_new"] == 3
    result = cli.json("data", "import", str(directory / "ratings.csv"))
    assert result["ratings_stored"] == 4 and result["movies_read"] == 0
    assert len(_rows(cli.settings.database_url, "SELECT 1 FROM ratings")) == 4


@pytest.mark.parametrize(
    ("line", "message"),
    [("1,2,x,964982703", "bad ratings line"), ("1,2,7.0,964982703", "rating 7 is not 0.5..5.0"),
     ("1,99,4.0,964982703", "movie 99 does not exist")],
)
def test_a_bad_line_is_named_and_nothing_is_imported(
    cli: Cli, tmp_path: Path, line: str, message: str
) -> None:
    directory = _write(tmp_path / "bad", "ml-latest")
    ratings = directory / "ratings.csv"
    lines = ratings.read_text().splitlines()
    lines.insert(2, line)  # line 3 of the file
    ratings.write_text("\n".join(lines) + "\n")

    result = cli.run("data", "import", str(directory), ok=False)
    assert result.exit_code == 1 and isinstance(result.exception, DataFormatError)
    assert f"{ratings}:3: " in str(result.exception) and message in str(result.exception)
    assert "nothing was imported" in (result.exception.hint or "")
    assert _snapshot(cli.settings.database_url) == ([], [], [])  # not even the valid movies


def test_generate_loads_the_demo_set_once(cli: Cli) -> None:
    first = cli.json("data", "generate")
    assert (first["movies_new"], first["users_new"], first["ratings_stored"]) == (400, 600, 30_000)
    url = cli.settings.database_url
    assert _rows(url, "SELECT count(*), count(DISTINCT event_id) FROM ratings") == [(30_000, 30_000)]
    assert _rows(url, "SELECT count(*) FROM movies WHERE overview <> ''") == [(400,)]
    assert _rows(url, "SELECT count(*) FROM movies WHERE cardinality(genres) BETWEEN 1 AND 3") == [(400,)]
    again = cli.json("data", "generate")
    assert (again["movies_updated"], again["ratings_stored"]) == (0, 0)


def test_generate_out_writes_files_without_touching_the_database(cli: Cli, tmp_path: Path) -> None:
    nowhere = f"postgresql://streamrec:x@127.0.0.1:{free_port()}/nothing"
    result = cli.runner.invoke(
        streamrec_app,
        ["data", "generate", "--users", "40", "--movies", "30", "--ratings", "500", "--out", str(tmp_path),
         "--format", "ml-1m"],
        env={**cli.env, "STREAMREC_DATABASE_URL": nowhere},
    )
    assert result.exit_code == 0, result.output
    assert "ratings.dat" in result.stdout
    assert len(load_ratings(tmp_path).frame) == 500
    assert len(load_movies(tmp_path).frame) == 30


def test_unreachable_database_is_one_line_with_a_hint(cli: Cli, tmp_path: Path) -> None:
    port = free_port()
    shown = cli.subprocess("data", "import", str(_write(tmp_path / "d", "ml-100k")),
                           STREAMREC_DATABASE_URL=f"postgresql://streamrec:secret@127.0.0.1:{port}/x")
    assert shown.returncode == 1
    assert f"cannot reach Postgres at postgresql://streamrec:***@127.0.0.1:{port}/x" in shown.stderr
    assert "streamrec stack up" in shown.stderr and "secret" not in shown.stderr
    assert "Traceback" not in shown.stderr
