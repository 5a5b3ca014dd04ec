"""``streamrec topics …``: streamrec's Kafka topics."""

from __future__ import annotations

import asyncio

import typer

from infra import kafka_admin
from infra.cli.output import console, settings_of

app = typer.Typer(help="Inspect and create streamrec's Kafka topics.", no_args_is_help=True)


@app.command()
def create(ctx: typer.Context) -> None:
    """Create the topics of SPEC.md with the configured partitions (idempotent)."""
    settings = settings_of(ctx)
    created = asyncio.run(kafka_admin.ensure_topics(settings))
    if created:
        console.print(f"created: {', '.join(created)}", highlight=False)
    else:
        console.print("all topics exist", highlight=False)
