"""``streamrec produce ratings``: publish rating events, batched, with a progress bar."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from cli.output import console, err_console, print_json, settings_of
from infra.demo_data import DEMO_MOVIES, DEMO_SEED, DEMO_USERS
from schemas.errors import StreamrecError
from streams import rating_producer

app = typer.Typer(help="Publish events to streamrec's topics.", no_args_is_help=True)


@app.command()
def ratings(
    ctx: typer.Context,
    file: Annotated[Path | None, typer.Option(
        "--file", help="A MovieLens ratings file (u.data, ratings.dat, ratings.csv, …) or "
        "JSON lines of rating objects.")] = None,
    synthetic: int | None = typer.Option(
        None, "--synthetic", min=1, help=f"Draw N ratings over the demo set's {DEMO_USERS} users and "
        f"{DEMO_MOVIES} movies, rated now."),
    rate: float | None = typer.Option(None, "--rate", min=0.001, help="At most R events per second."),
    batch: int = typer.Option(1000, "--batch", min=1, help="Events sent before waiting for their acks."),
    seed: int = typer.Option(DEMO_SEED + 1, "--seed", help="Seed of --synthetic."),
    format: str = typer.Option("auto", "--format", help="Format of --file: auto, ml-100k, ml-1m, "
                               "ml-latest, csv."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Publish rating events to the ratings topic with aiokafka and report events/s.

    Ratings of a MovieLens file get the same event ids as `streamrec data import` gives
    them, so producing a file twice stores it once. JSON lines are published as they are
    (the worker validates them and dead-letters the bad ones).
    """
    if (file is None) == (synthetic is None):
        raise StreamrecError("give exactly one of --file PATH and --synthetic N",
                             hint="e.g. `streamrec produce ratings --synthetic 1000 --rate 200`")
    settings = settings_of(ctx)
    messages = (rating_producer.from_file(file, format) if file is not None
                else rating_producer.synthetic(synthetic or 0, seed))
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=False) as progress:
        task = progress.add_task(f"publishing {messages.description}", total=messages.count)
        result = asyncio.run(rating_producer.publish(
            settings, messages, batch=batch, rate=rate, on_sent=lambda n: progress.advance(task, n)
        ))
    if as_json:
        print_json(result.as_json())
    else:
        console.print(f"published {result.sent} events to {result.topic} in {result.seconds:.2f} s "
                      f"({result.rate:,.0f} events/s)", highlight=False, markup=False)
