"""The ``streamrec`` command line: one Typer app, a sub-app per area.

Errors of streamrec's own hierarchy print their message and hint and exit 1; with
``--debug`` the traceback is shown instead.
"""

from __future__ import annotations

import sys

import typer
from pydantic import ValidationError
from rich.text import Text

from cli import api, data, db, demo, dlq, evaluate, models, produce, stack, suggest, topics, tune, worker
from cli.output import err_console, printable
from infra.settings import load_settings
from schemas.errors import StreamrecError

app = typer.Typer(
    name="streamrec",
    help="streamrec: an event-driven streaming movie recommender (Kafka, Faust, Postgres).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(stack.app, name="stack")
app.add_typer(db.app, name="db")
app.add_typer(topics.app, name="topics")
app.add_typer(models.app, name="models")
app.add_typer(dlq.app, name="dlq")
app.add_typer(produce.app, name="produce")
app.add_typer(data.app, name="data")
app.command()(demo.demo)
app.command()(worker.worker)
app.command()(suggest.suggest)
app.command("eval")(evaluate.evaluate)
app.command()(tune.tune)
app.command()(api.api)

_debug = False


@app.callback()
def root(
    ctx: typer.Context,
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks of errors."),
) -> None:
    """Settings come from STREAMREC_* environment variables (see README)."""
    global _debug
    _debug = debug
    ctx.obj = load_settings()


def main() -> None:
    try:
        app()
    except StreamrecError as err:
        if _debug:
            raise
        err_console.print("[bold red]error:[/]", Text(printable(err.message)), highlight=False)
        if err.hint:
            err_console.print(Text(f"  → {printable(err.hint)}"), highlight=False)
        sys.exit(1)
    except ValidationError as err:
        if _debug:
            raise
        for problem in err.errors():
            field = ".".join(str(part) for part in problem["loc"])
            err_console.print(
                f"[bold red]error:[/] setting STREAMREC_{field.upper()}: {problem['msg']}",
                highlight=False,
            )
        sys.exit(2)
