"""``streamrec db migrate``."""

from __future__ import annotations

import typer

from cli.output import console, settings_of
from infra import db

app = typer.Typer(help="Postgres schema.", no_args_is_help=True)


@app.command()
def migrate(ctx: typer.Context) -> None:
    """Apply the schema migrations not yet applied (idempotent)."""
    settings = settings_of(ctx)
    applied = db.migrate(settings.database_url)
    if applied:
        console.print(f"applied {len(applied)} migration(s): {', '.join(applied)}", highlight=False)
    else:
        console.print("schema is up to date", highlight=False)
