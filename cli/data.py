"""``streamrec data import | generate``: movies and ratings into Postgres, in bulk."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

from cli.output import console, err_console, print_json, settings_of
from cli.topics import print_rows
from infra import importer
from infra.demo_data import DEMO_MOVIES, DEMO_RATINGS, DEMO_SEED, DEMO_USERS, demo_set
from infra.importer import ImportResult
from ml.writers import whole_stars, write_dataset
from schemas.errors import StreamrecError

app = typer.Typer(help="Load movies and ratings: MovieLens files or the built-in demo set.",
                  no_args_is_help=True)


class _Bars:
    """Import progress as rich progress bars, one per table, shown from the first one on
    (an unreachable database shows no empty bar)."""

    def __init__(self) -> None:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        self._progress = Progress(*columns, console=err_console, transient=False)
        self._tasks: dict[str, TaskID] = {}

    def start(self, task: str, total: int) -> None:
        if not self._tasks:
            self._progress.start()
        self._tasks[task] = self._progress.add_task(f"copying {task}", total=total)

    def advance(self, task: str, rows: int) -> None:
        self._progress.advance(self._tasks[task], rows)

    def stop(self) -> None:
        self._progress.stop()


def _run(ctx: typer.Context, dataset: importer.Dataset) -> ImportResult:
    bars = _Bars()
    try:
        return asyncio.run(importer.import_dataset(settings_of(ctx), dataset, bars))
    finally:
        bars.stop()


def _report(result: ImportResult, title: str, as_json: bool) -> None:
    if as_json:
        print_json(result.as_json())
        return
    print_rows(f"{title} in {result.seconds:.2f} s", ["table", "read", "new", "changed"], [
        ["movies", result.movies_read, result.movies_new, result.movies_updated],
        ["users", "", result.users_new, ""],
        ["ratings", result.ratings_read, result.ratings_stored, ""],
    ], right=3)
    if result.ratings_stored:
        console.print("ratings imported directly do not trigger a retrain: request one with "
                      "`streamrec models train`", highlight=False, markup=False)


@app.command("import")
def import_(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A data set directory (ml-100k, ml-1m, "
                                         "ml-latest[-small]) or one ratings or movies file.")],
    format: str = typer.Option("auto", "--format", help="auto, ml-100k, ml-1m, ml-latest, tmdb or csv."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Import movies and/or ratings into Postgres in one transaction (COPY).

    Idempotent: ratings get event ids derived from the file name, user, movie and
    timestamp, so a second import changes nothing. A malformed file is reported with its
    line and nothing is imported. Popularity is computed from the ratings.
    """
    dataset = importer.read_dataset(path, format, settings_of(ctx).rated_at_window)
    _report(_run(ctx, dataset), f"imported {path}", as_json)


@app.command()
def generate(
    ctx: typer.Context,
    users: int = typer.Option(DEMO_USERS, "--users", min=1, help="Users 1..N."),
    movies: int = typer.Option(DEMO_MOVIES, "--movies", min=1, help="Movies 1..N."),
    ratings: int = typer.Option(DEMO_RATINGS, "--ratings", min=0, help="Ratings, each (user, movie) once."),
    seed: int = typer.Option(DEMO_SEED, "--seed", help="Same arguments, same data."),
    out: Annotated[Path | None, typer.Option("--out", help="Write MovieLens-format files here "
                                             "instead of loading the database.")] = None,
    format: str = typer.Option("ml-latest", "--format", help="Files of --out: ml-100k, ml-1m (whole stars) "
                               "or ml-latest (half stars)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """The built-in demo set (synthetic users, movies with titles and overviews, and
    ratings from a latent-factor model) loaded into Postgres in bulk, or written as files."""
    if out is not None:
        if format not in ("ml-100k", "ml-1m", "ml-latest"):
            raise StreamrecError(f"cannot write format {format!r}", hint="use ml-100k, ml-1m or ml-latest")
        try:
            data = demo_set(users, movies, ratings, seed, half_stars=not whole_stars(format))
        except ValueError as err:
            raise StreamrecError(f"cannot generate that data set: {err}",
                                 hint="use fewer ratings or more users/movies") from err
        try:
            written = write_dataset(data.ratings, data.movies, out, format)
        except OSError as err:
            raise StreamrecError(f"cannot write to {out}: {err}", hint="choose a writable directory") from err
        if as_json:
            print_json({name: str(file) for name, file in written.items()})
        else:
            for name, file in written.items():
                console.print(f"wrote {name}: {file}", highlight=False, markup=False)
        return
    dataset = importer.synthetic_dataset(users, movies, ratings, seed)
    _report(_run(ctx, dataset), f"generated {users} users, {movies} movies, {ratings} ratings", as_json)
